//! Delivering notifications as YooKassa does: a JSON POST with no credentials, acknowledged only by
//! HTTP 200, retried on anything else along the configured schedule, every attempt recorded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Attempt;
use super::shared::Shared;
use super::state::Outgoing;

pub(super) async fn deliver(shared: Arc<Shared>, outgoing: Outgoing) {
    if !pause(&shared, outgoing.delay).await {
        return;
    }
    let waits = std::iter::once(Duration::ZERO).chain(outgoing.retry_schedule.clone());
    for (number, wait) in (1..).zip(waits) {
        if !pause(&shared, wait).await {
            return;
        }
        let sent = shared.http.post(outgoing.url.clone()).timeout(outgoing.timeout).json(&outgoing.body).send().await;
        let (status, error) = match sent {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) => (None, Some(error.without_url().to_string())),
        };
        let attempt = Attempt {
            notification: outgoing.id,
            copy: outgoing.copy,
            event: outgoing.body.event.clone(),
            object_id: outgoing.body.object_id().unwrap_or_default().to_string(),
            number,
            status,
            error,
            at: SystemTime::now(),
        };
        tracing::debug!(event = %attempt.event, number, ?status, "emulated YooKassa notification sent");
        shared.write(|s| s.attempts.push(attempt));
        if status == Some(200) {
            return;
        }
    }
}

/// Waits, unless the emulator stops first; says whether to go on.
async fn pause(shared: &Shared, wait: Duration) -> bool {
    if shared.is_stopping() {
        return false;
    }
    if wait.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = shared.stopped() => false,
    }
}
