//! The lease: a session-level advisory lock on one dedicated connection, held for as long as this
//! instance acts. Another instance waits as a standby, trying again every few seconds, and takes over
//! when the holder's session ends — at once when its process dies (the server sees the socket close),
//! after the server's TCP keepalives give up when its host vanishes.
//!
//! The same connection LISTENs on `billing::WAKE_CHANNEL`: waiting for a notification is a read on its
//! socket, which also tells at once that the connection, and with it the lock, is gone.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use crate::billing::WAKE_CHANNEL;

/// The lock's key: the bytes "botplatf", apart from every other advisory lock botctl takes.
const KEY: i64 = 0x626f_7470_6c61_7466;
/// How often a standby tries to take the lease.
pub const STANDBY_RETRY: Duration = Duration::from_secs(2);
/// The server's keepalives on the lease connection: a holder whose host is gone loses the lease after
/// about idle + interval × count = 60 s.
const KEEPALIVES: [(&str, &str); 3] =
    [("tcp_keepalives_idle", "30"), ("tcp_keepalives_interval", "10"), ("tcp_keepalives_count", "3")];

/// The held lease. Dropping it closes its connection, which releases the lock.
pub struct Lease {
    pub listener: PgListener,
    pool: PgPool,
}

impl Lease {
    /// Asks the lease connection a trivial question: an error means the lease may be gone.
    pub async fn check(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&mut self.listener).await.map(|_| ())
    }

    /// Lets go of the lock and closes the connection.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(KEY).execute(&mut self.listener).await;
        drop(self.listener);
        self.pool.close().await;
    }
}

/// Waits until this instance holds the lease (`None` when `stop` comes first). `standby` is called
/// once when another instance holds it.
pub async fn acquire(pool: &PgPool, stop: &CancellationToken, standby: impl Fn()) -> anyhow::Result<Option<Lease>> {
    let mut told = false;
    loop {
        match try_acquire(pool).await {
            Ok(Some(lease)) => return Ok(Some(lease)),
            Ok(None) if !told => {
                told = true;
                standby();
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot ask for the platform lease: {e:#}"),
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(None),
            () = tokio::time::sleep(STANDBY_RETRY) => {}
        }
    }
}

/// One try, on a connection of its own (a pool of one, closed when the lease goes, so the session never
/// returns to a pool with the lock still held).
async fn try_acquire(pool: &PgPool) -> anyhow::Result<Option<Lease>> {
    let own =
        PgPoolOptions::new().max_connections(1).min_connections(0).connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await?;
    // A lost connection must end the lease, not be mended silently without the lock.
    listener.eager_reconnect(false);
    for (name, value) in KEEPALIVES {
        sqlx::query("SELECT set_config($1, $2, false)").bind(name).bind(value).execute(&mut listener).await?;
    }
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(KEY).fetch_one(&mut listener).await?;
    if !locked {
        drop(listener);
        own.close().await;
        return Ok(None);
    }
    listener.listen(WAKE_CHANNEL).await?;
    Ok(Some(Lease { listener, pool: own }))
}
