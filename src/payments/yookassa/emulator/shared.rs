//! The state behind the emulator's HTTP face and its Rust handle, with its change and shutdown signals.

use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

use super::EmulatorError;
use super::notify;
use super::state::{Outgoing, State};
use crate::payments::yookassa::Payment;

pub(super) struct Shared {
    /// Never held across an await: every operation is a short, synchronous step.
    state: Mutex<State>,
    /// Bumped after every change, so that waiters wake instead of polling.
    changed: watch::Sender<()>,
    stopping: watch::Sender<bool>,
    /// Control calls may come from outside the runtime's tasks; deliveries are spawned here.
    runtime: tokio::runtime::Handle,
    pub http: reqwest::Client,
}

impl Shared {
    pub fn new(state: State, runtime: tokio::runtime::Handle, http: reqwest::Client) -> Self {
        Self {
            state: Mutex::new(state),
            changed: watch::Sender::new(()),
            stopping: watch::Sender::new(false),
            runtime,
            http,
        }
    }

    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        // A panic elsewhere cannot leave the state half-changed in a way worth refusing to serve.
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.send_replace(());
        result
    }

    /// Subscribe before looking at the state: a change made after the look then still wakes the waiter.
    pub fn changes(&self) -> watch::Receiver<()> {
        self.changed.subscribe()
    }

    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once the emulator is shutting down; hung requests and pending deliveries end here.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        // The sender lives as long as `self`, so this only ends when stopping is set.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    /// The buyer pays; the notification goes out. One operation for the Rust handle and HTTP alike.
    pub fn pay(self: &std::sync::Arc<Self>, payment_id: &str) -> Result<Payment, EmulatorError> {
        let (payment, outgoing) = self.write(|s| s.pay(payment_id))?;
        self.dispatch(outgoing);
        Ok(payment)
    }

    pub fn cancel(
        self: &std::sync::Arc<Self>,
        payment_id: &str,
        party: &str,
        reason: &str,
    ) -> Result<Payment, EmulatorError> {
        let (payment, outgoing) = self.write(|s| s.cancel(payment_id, party, reason))?;
        self.dispatch(outgoing);
        Ok(payment)
    }

    /// Runs `task` on the emulator's runtime, whichever thread the control call came from.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(task);
    }

    /// Starts delivering each notification on its own task, as YooKassa's are independent.
    pub fn dispatch(self: &std::sync::Arc<Self>, outgoing: Vec<Outgoing>) {
        for one in outgoing {
            let shared = std::sync::Arc::clone(self);
            self.runtime.spawn(notify::deliver(shared, one));
        }
    }
}
