//! The operator's read models: what the operator bot shows of the fleet (`overview`), the tenants
//! (`tenants`, a paged search) and one tenant (`card`, `log_tail`), as typed values computed from the
//! control plane and the Docker engine. Nothing here formats a message or knows Telegram, and nothing
//! here writes.

mod card;
mod overview;
mod tenants;

pub use card::{Card, ContainerFacts, LastBackup, LastPayment, OutboxCounts, card, log_tail};
pub use overview::{BackupNight, ContainerCounts, Overview, StateCounts, overview};
pub use tenants::{MAX_PER_PAGE, Page, TenantRow, tenants};

use std::time::Duration;

use serde::Serialize;

use crate::runtime::Engine;

/// How long a view waits for the engine before it shows container facts as unknown.
pub const ENGINE_WAIT: Duration = Duration::from_secs(10);

/// What the Docker engine said, or why it could not be asked: an unreachable engine makes a fact
/// unknown, never a whole view fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "engine", content = "value", rename_all = "snake_case")]
pub enum Observed<T> {
    Known(T),
    Unknown { reason: String },
}

impl<T> Observed<T> {
    /// Asks the engine, if there is one, for at most [`ENGINE_WAIT`]: a hung engine makes the facts
    /// unknown instead of keeping the operator waiting for its client's own (minutes long) timeout.
    async fn ask<'e, F>(engine: Option<&'e Engine>, ask: impl FnOnce(&'e Engine) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        let Some(engine) = engine else {
            return Observed::Unknown { reason: "no Docker engine is configured".into() };
        };
        match tokio::time::timeout(ENGINE_WAIT, ask(engine)).await {
            Ok(Ok(value)) => Observed::Known(value),
            Ok(Err(e)) => Observed::Unknown { reason: format!("{e:#}") },
            Err(_) => Observed::Unknown {
                reason: format!("the Docker engine at {} did not answer within {ENGINE_WAIT:?}", engine.host()),
            },
        }
    }

    pub fn known(&self) -> Option<&T> {
        match self {
            Observed::Known(value) => Some(value),
            Observed::Unknown { .. } => None,
        }
    }
}

/// Every backup attempt the control plane knows of, one row each (`tenant`, `at`, `ok`, `size_bytes`):
/// an archive `botctl.backups` recorded is an attempt that succeeded; a failed one leaves no archive,
/// only its tenant's name in the `failed` list of the run's `backup` event. Callers filter by tenant
/// and time outside, which PostgreSQL pushes into both branches.
const BACKUP_ATTEMPTS: &str = "(SELECT tenant, created_at AS at, true AS ok, size_bytes FROM botctl.backups \
    UNION ALL \
    SELECT f.tenant, e.at, false, NULL::bigint FROM botctl.events e CROSS JOIN LATERAL \
        jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.details -> 'failed') = 'array' \
            THEN e.details -> 'failed' ELSE '[]'::jsonb END) AS f(tenant) \
    WHERE e.action = 'backup')";
