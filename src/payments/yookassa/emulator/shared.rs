//! The state behind the emulator's HTTP face and its Rust handle, with its change and shutdown signals.

use super::EmulatorError;
use super::notify;
use super::state::{Outgoing, State};
use crate::emulation::Guarded;
use crate::payments::yookassa::Payment;

/// The emulator's state and signals (`emulation::Guarded`), with the control operations on top.
pub(super) struct Shared {
    guarded: Guarded<State>,
    /// Control calls may come from outside the runtime's tasks; deliveries are spawned here.
    runtime: tokio::runtime::Handle,
    pub http: reqwest::Client,
}

impl crate::emulation::Stop for Shared {
    fn stop(&self) {
        Guarded::stop(self)
    }
}

impl std::ops::Deref for Shared {
    type Target = Guarded<State>;

    fn deref(&self) -> &Guarded<State> {
        &self.guarded
    }
}

impl Shared {
    pub fn new(state: State, runtime: tokio::runtime::Handle, http: reqwest::Client) -> Self {
        Self { guarded: Guarded::new(state), runtime, http }
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
