//! The tenants' containers and servers as the platform daemon's parts reach them (the clock's stops and
//! starts, the operator bot's actions, the sales orders' provisioning): one engine connection, made at
//! the first use and shared, how containers run, and the PostgreSQL servers tenants live on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::db::servers::Servers;
use crate::runtime::Engine;
use crate::tenant::runtime::RuntimeOptions;

/// How long the first use waits for the Docker engine to answer its connection.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Cheap to clone: every clone shares the one connection.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

struct Inner {
    servers: Servers,
    /// An error (the settings do not say how containers reach the database) fails each start with it,
    /// without keeping what needs no container (the clock, the screens) from running.
    runtime: Result<RuntimeOptions, String>,
    docker_host: String,
    engine: OnceCell<Engine>,
}

impl Fleet {
    pub fn new(servers: Servers, runtime: Result<RuntimeOptions, String>, docker_host: impl Into<String>) -> Fleet {
        Fleet { inner: Arc::new(Inner { servers, runtime, docker_host: docker_host.into(), engine: OnceCell::new() }) }
    }

    /// The servers tenants live on; tenant operations route through them.
    pub fn servers(&self) -> &Servers {
        &self.inner.servers
    }

    /// The engine, connected at the first call that needs it; a failed connection is tried again at
    /// the next call.
    pub async fn engine(&self) -> anyhow::Result<&Engine> {
        self.inner.engine.get_or_try_init(|| Engine::connect(&self.inner.docker_host, ENGINE_TIMEOUT)).await
    }

    pub fn runtime(&self) -> anyhow::Result<&RuntimeOptions> {
        self.inner.runtime.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }
}
