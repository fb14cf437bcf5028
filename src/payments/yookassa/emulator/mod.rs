//! A local YooKassa API v3 emulator: shops, payments, refunds and notifications in memory, with a
//! confirmation page that pays, and control calls to cancel payments, inject failures and shape how
//! notifications are delivered (duplicates, delays, reordering, retries).
//!
//! The client reaches it as an API base URL (`api_url()`); buyers reach `/pay/{payment_id}` (the
//! payments' `confirmation_url`); people reach the same controls as this handle through `/_emulator/…`
//! (see `control`). Nothing here is persisted.

mod control;
mod http;
mod notify;
mod shared;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use self::shared::Shared;
use self::state::State;
use super::{Payment, PaymentStatus, Refund};
use crate::emulation;

/// The API calls failures can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    CreatePayment,
    GetPayment,
    CreateRefund,
    GetRefund,
}

/// A fault to inject into the next calls of one operation. Failures queue up per operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// This HTTP status (5xx) with YooKassa's error body, before anything is done.
    ServerError(u16),
    /// The operation is done but the answer is a 500, as when YooKassa runs out of its 30 seconds:
    /// only a retry with the same idempotence key tells the client what happened.
    LostAnswer,
    /// No answer until the client gives up or the emulator shuts down.
    Hang,
    /// This status and body instead of the real answer (for a body the API should never send).
    Answer { status: u16, body: serde_json::Value },
}

/// One delivery attempt of a notification, in the order they were made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Numbers the notification (one per event); its duplicates share it.
    pub notification: u64,
    /// 0 for the original, 1.. for duplicates.
    pub copy: u32,
    pub event: String,
    pub object_id: String,
    /// 1 for the first try, then one more per retry.
    pub number: u32,
    /// The HTTP status the receiver answered, or `None` if it did not (see `error`).
    pub status: Option<u16>,
    pub error: Option<String>,
    #[serde(skip)]
    pub at: SystemTime,
}

/// In which order held notifications go out when released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    AsHeld,
    Reversed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulatorError {
    #[error("no shop `{0}` in the YooKassa emulator")]
    UnknownShop(String),
    #[error("no payment `{0}` in the YooKassa emulator")]
    UnknownPayment(String),
    #[error("payment `{id}` is {status}, no longer pending")]
    NotPending { id: String, status: PaymentStatus },
}

/// A running emulator. Clones share it; dropping the last clone stops the server.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<emulation::Running<Shared>>,
}

impl Emulator {
    /// Binds `addr` (`127.0.0.1:0` picks a free port) and serves on a spawned task.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Emulator> {
        let bound = emulation::bind(addr, "YooKassa emulator").await?;
        let url = bound.url.clone();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the emulator's notification client")?;
        let shared = Arc::new(Shared::new(State::new(url.clone()), tokio::runtime::Handle::current(), http));
        let stopping = Arc::clone(&shared);
        let server = bound.serve(http::router(Arc::clone(&shared)), async move { stopping.stopped().await });
        Ok(Emulator { inner: Arc::new(emulation::Running::new(shared, url, server, "YooKassa emulator")) })
    }

    /// The server's root, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> url::Url {
        self.inner.url.clone()
    }

    /// The API base for `ClientOptions::base_url`, `http://127.0.0.1:PORT/v3/`.
    pub fn api_url(&self) -> url::Url {
        let mut url = self.inner.url.clone();
        url.set_path("/v3/");
        url
    }

    /// Adds a shop, or gives an existing one a new secret key (its notification URL stays).
    pub fn add_shop(&self, shop_id: &str, secret_key: &str) {
        self.inner.shared.write(|s| s.add_shop(shop_id, secret_key));
    }

    /// Where the shop's notifications go (`None`: nowhere), as set in YooKassa's merchant profile.
    pub fn set_notification_url(&self, shop_id: &str, url: Option<url::Url>) -> Result<(), EmulatorError> {
        self.inner.shared.write(|s| s.set_notification_url(shop_id, url))
    }

    /// The buyer pays, as opening the confirmation page does; notifies `payment.succeeded`.
    pub fn pay(&self, payment_id: &str) -> Result<Payment, EmulatorError> {
        self.inner.shared.pay(payment_id)
    }

    /// The payment fails (`party` is `yoo_money`, `payment_network` or `merchant`; `reason` such as
    /// `expired_on_confirmation`, `card_expired`); notifies `payment.canceled`.
    pub fn cancel(&self, payment_id: &str, party: &str, reason: &str) -> Result<Payment, EmulatorError> {
        self.inner.shared.cancel(payment_id, party, reason)
    }

    pub fn payment(&self, payment_id: &str) -> Option<Payment> {
        self.inner.shared.read(|s| s.any_payment(payment_id))
    }

    /// Every payment of every shop, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        self.inner.shared.read(State::payments)
    }

    /// Every refund of every shop, oldest first.
    pub fn refunds(&self) -> Vec<Refund> {
        self.inner.shared.read(State::refunds)
    }

    /// The next `times` calls of `operation`, by any shop, fail this way.
    pub fn fail(&self, operation: Operation, failure: Failure, times: u32) {
        self.inner.shared.write(|s| s.fail(operation, failure, times));
    }

    /// The waits between a notification's failed attempt and the next; after the last, it is dropped.
    /// Applies to notifications of events from now on.
    pub fn set_retry_schedule(&self, schedule: Vec<Duration>) {
        self.inner.shared.write(|s| s.notify.retry_schedule = schedule);
    }

    /// How long a receiver may take to answer one attempt before it counts as failed (events from now on).
    pub fn set_notification_timeout(&self, timeout: Duration) {
        self.inner.shared.write(|s| s.notify.timeout = timeout);
    }

    /// Notifications of events from now on wait this long before their first attempt.
    pub fn delay_notifications(&self, delay: Duration) {
        self.inner.shared.write(|s| s.notify.delay = delay);
    }

    /// The next notification is delivered `extra` more times, each copy on its own (and retried alone).
    pub fn duplicate_next_notification(&self, extra: u32) {
        self.inner.shared.write(|s| s.duplicate_next(extra));
    }

    /// Notifications are kept back until `release_notifications`.
    pub fn hold_notifications(&self) {
        self.inner.shared.write(State::hold);
    }

    /// Sends what was held, in this order, and stops holding.
    pub fn release_notifications(&self, order: Release) {
        let mut held = self.inner.shared.write(State::release);
        if order == Release::Reversed {
            held.reverse();
        }
        // Each waits for the one before it to be tried once, so the order is the order of arrival
        // (while nothing else is being delivered at the same time).
        let shared = Arc::clone(&self.inner.shared);
        self.inner.shared.spawn(async move {
            for one in held {
                let before = shared.read(|s| s.attempts.len());
                shared.dispatch(vec![one]);
                let mut changes = shared.changes();
                while shared.read(|s| s.attempts.len()) == before && !shared.is_stopping() {
                    if changes.changed().await.is_err() {
                        return;
                    }
                }
            }
        });
    }

    /// Every delivery attempt so far, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.inner.shared.read(|s| s.attempts.clone())
    }

    /// Waits until `f` holds for the attempts, woken by each change rather than polling.
    pub async fn wait_attempts<F: Fn(&[Attempt]) -> bool>(
        &self,
        f: F,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Attempt>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Subscribed before the look, so a change right after it still wakes this waiter.
            let mut changes = self.inner.shared.changes();
            let now = self.attempts();
            if f(&now) {
                return Ok(now);
            }
            tokio::select! {
                changed = changes.changed() => changed.context("the emulator is gone")?,
                () = tokio::time::sleep_until(deadline) => {
                    anyhow::bail!("waited {timeout:?} for notification attempts to match; they are {now:?}");
                }
            }
        }
    }

    /// Stops serving: hung requests are answered, pending deliveries dropped, then the server task ends.
    pub async fn shutdown(self) {
        self.inner.shutdown().await;
    }
}
