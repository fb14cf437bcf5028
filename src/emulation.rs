//! What botctl's emulators of outside services (the Bot API, YooKassa) share: their state behind one
//! lock with a change signal and a stop signal, and an HTTP server on loopback that stops with them.
//! Each emulator keeps its own state, routes and control operations.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use tokio::sync::watch;

/// An emulator's state and its signals.
pub struct Guarded<S> {
    /// Never held across an await: every operation is a short, synchronous step.
    state: Mutex<S>,
    /// Bumped after every change, so that waiters (long polls, `wait_until`) wake instead of polling.
    changed: watch::Sender<()>,
    stopping: watch::Sender<bool>,
}

impl<S> Guarded<S> {
    pub fn new(state: S) -> Self {
        Self { state: Mutex::new(state), changed: watch::Sender::new(()), stopping: watch::Sender::new(false) }
    }

    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        // A panic elsewhere cannot leave the state half-changed in a way worth refusing to serve.
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn write<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
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

    /// Resolves once the emulator is shutting down; hung and long-polling requests end here.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        // The sender lives as long as `self`, so this only ends when stopping is set.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }
}

/// An emulator's listener on loopback, bound before its state is made (the state may need the URL).
pub struct Bound {
    listener: tokio::net::TcpListener,
    /// The server's root, `http://127.0.0.1:PORT/`.
    pub url: url::Url,
    what: &'static str,
}

/// Listens on `addr` (`127.0.0.1:0` picks a free port); `what` names the emulator in errors and the log.
pub async fn bind(addr: SocketAddr, what: &'static str) -> anyhow::Result<Bound> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for the {what}"))?;
    let local = listener.local_addr().context("the emulator's listener has no address")?;
    let url = url::Url::parse(&format!("http://{local}/")).context("the emulator's address is not a URL")?;
    Ok(Bound { listener, url, what })
}

impl Bound {
    /// Serves `router` on a task of its own until `stopped` resolves.
    pub fn serve(
        self,
        router: axum::Router,
        stopped: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let Bound { listener, url, what } = self;
        tracing::debug!(%url, "{what} listening");
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
                tracing::warn!(%error, "the {what} stopped serving");
            }
        })
    }
}

/// What stops an emulator: its state's stop signal.
pub trait Stop: Send + Sync + 'static {
    fn stop(&self);
}

/// What an emulator's handle holds: its shared state, its root URL and its server's task. An emulator's
/// clones share one; when the last is dropped the emulator stops.
pub struct Running<T: Stop> {
    pub shared: std::sync::Arc<T>,
    pub url: url::Url,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
    what: &'static str,
}

impl<T: Stop> Running<T> {
    pub fn new(
        shared: std::sync::Arc<T>,
        bound_url: url::Url,
        server: tokio::task::JoinHandle<()>,
        what: &'static str,
    ) -> Self {
        Self { shared, url: bound_url, server: Mutex::new(Some(server)), what }
    }

    /// Stops the emulator and waits for its server to end.
    pub async fn shutdown(&self) {
        self.shared.stop();
        let server = self.server.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(server) = server
            && let Err(error) = server.await
        {
            tracing::warn!(%error, "the {}'s task failed", self.what);
        }
    }
}

impl<T: Stop> Drop for Running<T> {
    fn drop(&mut self) {
        self.shared.stop();
    }
}
