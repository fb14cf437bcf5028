//! A tenant's container (or Swarm service, see `runner`): what it is made of — the tenant's own role
//! with a password rotated at every create, its bot token, the Bot API, how it reaches PostgreSQL; never
//! the operator's credentials — and the steps `tenant start|stop|restart` take on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgPool, Postgres};

use super::TenantSlug;
use super::runner::{BotSpec, Runner};
use super::store::{self, Tenant};
use crate::db::servers::{Server, Servers};
use crate::db::{ConnectionLimit, provision};
use crate::error::BadInput;
use crate::progress::Progress;
use crate::runtime::container::{
    BindMount, ContainerSpec, ContainerState, HTTP, INSTALLATION, MANAGED, TENANT, Waited,
};
use crate::runtime::image::BINARY;
use crate::runtime::{Engine, Mode};

/// Where a container finds the socket directory it is given.
const SOCKET_MOUNT: &str = "/run/postgresql";
pub(super) const STOP_GRACE: Duration = Duration::from_secs(10);
/// How many log lines a failed start shows.
pub(super) const LOG_LINES: usize = 20;

/// How containers reach PostgreSQL.
#[derive(Debug, Clone)]
pub enum DatabaseAccess {
    /// A socket directory of the host, mounted read-only.
    Socket {
        dir: PathBuf,
        port: u16,
        database: String,
    },
    Tcp {
        host: String,
        port: u16,
        database: String,
    },
}

impl DatabaseAccess {
    /// How containers reach the server `options` connect to: through `host` when one is set (a socket
    /// directory, `HOST` or `HOST:PORT`; `setting` names where it came from), else through botctl's
    /// local cluster's shared socket directory, else at the URL's own host. A server botctl reaches
    /// through a socket directory of its own needs `host`: containers are not given that directory.
    pub fn resolve(
        host: Option<&str>,
        setting: &str,
        options: &PgConnectOptions,
        shared_socket: Option<&Path>,
    ) -> Result<Self, BadInput> {
        let database = options.get_database().unwrap_or("botctl").to_string();
        let port = options.get_port();
        Ok(match (host, shared_socket) {
            (Some(dir), _) if dir.starts_with('/') => Self::Socket { dir: dir.into(), port, database },
            (Some(host), _) => match host.rsplit_once(':') {
                Some((h, p)) => Self::Tcp {
                    host: h.to_string(),
                    port: p.parse().map_err(|_| BadInput::new(format!("invalid port in {setting} `{host}`")))?,
                    database,
                },
                None => Self::Tcp { host: host.to_string(), port, database },
            },
            (None, Some(dir)) => Self::Socket { dir: dir.to_path_buf(), port, database },
            (None, None) => match options.get_socket() {
                Some(socket) => {
                    return Err(BadInput::new(format!(
                        "the database is reached through the socket directory {}, which containers are not \
                         given: set {setting} to a socket directory they may mount or to a HOST:PORT",
                        socket.display()
                    )));
                }
                None => Self::Tcp { host: options.get_host().to_string(), port, database },
            },
        })
    }
}

impl DatabaseAccess {
    /// How containers reach `server`: `main` as `main_access` says (from `runtime.database_host`),
    /// another server through its recorded container host, else at its URL's host.
    pub fn of_server(server: &Server, main_access: &DatabaseAccess) -> Result<Self, BadInput> {
        if server.is_main() {
            return Ok(main_access.clone());
        }
        let setting = format!("server `{}`'s container host (`botctl server add {0} --container-host`)", server.name);
        Self::resolve(server.container_host.as_deref(), &setting, &server.options, None)
    }
}

/// Everything about containers that is the same for every tenant.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// This installation's id, put on every container as a label.
    pub installation: String,
    /// The image tenants start from until they have run one (and `tenant upgrade`'s default target).
    pub image: String,
    pub network: String,
    pub database: DatabaseAccess,
    /// Limits for tenants without their own.
    pub memory_mb: u32,
    pub cpus: f64,
    pub health_timeout: Duration,
    /// Docker's healthcheck interval in containers made from now on.
    pub health_interval: Duration,
    pub telegram_api_url: url::Url,
    pub rate_limits: bool,
    /// Plain containers, or Swarm services.
    pub mode: Mode,
    /// Swarm placement constraints of services made from now on.
    pub placement: Vec<String>,
}

/// The container's name: ownership is still decided by its labels.
pub fn container_name(slug: &str) -> String {
    format!("botctl-{slug}")
}

/// Advisory-lock class for tenant runtime locks (the bytes "botr"), apart from migration locks.
const RUNTIME_LOCK_CLASS: i32 = 0x626f_7472;

/// One start, stop, upgrade or repair of a tenant's container at a time, across processes: two starts
/// at once would each rotate the password and one container would hold a stale one. The lock belongs
/// to a session that is closed when this is dropped, so a cancelled command never leaves it held.
pub struct RuntimeLock {
    _session: PoolConnection<Postgres>,
}

/// Waits for the tenant's runtime lock; whoever held it has finished, so inspect again after this.
/// Refuses a tenant that `botctl demo` serves: every command that changes a bot's container takes this.
/// Refuses a tenant whose move is unfinished too: only `tenant move` ([`lock_for_move`]) goes on with it.
pub async fn lock(servers: &Servers, slug: &TenantSlug) -> anyhow::Result<RuntimeLock> {
    lock_session(servers, slug, false).await
}

/// [`lock`] for `tenant move`, which finishes or rolls back an unfinished move of the tenant.
pub(super) async fn lock_for_move(servers: &Servers, slug: &TenantSlug) -> anyhow::Result<RuntimeLock> {
    lock_session(servers, slug, true).await
}

async fn lock_session(servers: &Servers, slug: &TenantSlug, moving: bool) -> anyhow::Result<RuntimeLock> {
    let mut conn = servers.control().acquire().await?;
    conn.close_on_drop();
    super::served::refuse_if_by_demo(&mut conn, slug).await?;
    if !moving {
        super::moving::journal::refuse_unfinished(&mut conn, slug.as_str()).await?;
    }
    // Tried in a loop rather than waited for in one statement, which sqlx would log as slow.
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(RUNTIME_LOCK_CLASS)
            .bind(slug.schema())
            .fetch_one(&mut *conn)
            .await
            .with_context(|| format!("cannot lock tenant `{slug}`"))?;
        if locked {
            return Ok(RuntimeLock { _session: conn });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Serialize)]
pub struct Started {
    pub tenant: String,
    pub container: String,
    /// Whether a new container was made (with a new password).
    pub created: bool,
    pub image: String,
}

/// Starts the tenant's container, making it first if there is none (from the image the tenant last ran,
/// or the configured one for a first start), and waits until it is healthy. A container that never gets
/// healthy is removed (its last lines are in the error) and the tenant stays `stopped`; running `start`
/// again retries.
pub async fn start(
    servers: &Servers,
    engine: &Engine,
    slug: &TenantSlug,
    options: &RuntimeOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Started> {
    let _lock = lock(servers, slug).await?;
    let tenant = find(servers, slug).await?;
    super::ops::refuse_deleting(&tenant)?;
    let image = tenant.image.clone().unwrap_or_else(|| options.image.clone());
    let started = start_locked(servers, engine, slug, &tenant, &image, options, progress).await?;
    let details = json!({ "created": started.created, "image": started.image });
    store::record(&mut *servers.control().acquire().await?, actor, Some(slug.as_str()), "tenant.start", details)
        .await?;
    Ok(started)
}

pub(super) async fn find(servers: &Servers, slug: &TenantSlug) -> anyhow::Result<Tenant> {
    store::find(&mut *servers.control().acquire().await?, slug.as_str())
        .await?
        .with_context(|| format!("tenant `{slug}` does not exist"))
}

/// The tenant's container (or service, for `runner`) if there is one, refusing one of that name that
/// is not this installation's for this tenant.
pub(super) async fn inspect(
    runner: Runner<'_>,
    slug: &TenantSlug,
    options: &RuntimeOptions,
) -> anyhow::Result<Option<ContainerState>> {
    let name = container_name(slug.as_str());
    let found = runner.state(&name).await?;
    if let Some(found) = &found {
        let label = |key| found.labels.get(key).map(String::as_str);
        if label(TENANT) != Some(slug.as_str()) || label(INSTALLATION) != Some(options.installation.as_str()) {
            let kind = if runner.is_service() { "service" } else { "container" };
            anyhow::bail!(
                "a {kind} named `{name}` exists but is not this installation's {kind} for tenant `{slug}`; \
                 botctl will not touch it (remove or rename it)"
            );
        }
    }
    Ok(found)
}

/// [`start`] under the tenant's lock, with the image a new container is made from. The connection
/// budget is read, and the password rotated, on the tenant's server.
pub(super) async fn start_locked(
    servers: &Servers,
    engine: &Engine,
    slug: &TenantSlug,
    tenant: &Tenant,
    image: &str,
    options: &RuntimeOptions,
    progress: &dyn Progress,
) -> anyhow::Result<Started> {
    let name = container_name(slug.as_str());
    let runner = Runner::configured(engine, options.mode);
    let mut existing = inspect(runner, slug, options).await?;
    // A container that exists keeps the image it was made from.
    let image = existing.as_ref().map_or(image, |c| c.image.as_str()).to_string();
    // A stopped container made with another healthcheck interval is made again (its bot is down anyway),
    // so that `tenant restart` brings a changed `runtime.health_interval` to an existing fleet.
    // So is one whose `/healthz` port something else took while it was stopped (host networking), and a
    // stopped service always (its password is rotated at every make, like a container's).
    if let Some(c) = &existing
        && c.status != "running"
        && c.status != "pending"
        && (runner.is_service()
            || c.health_interval != Some(options.health_interval)
            || (options.network == "host"
                && c.labels.get(HTTP).and_then(|addr| port_of(addr)).is_some_and(|port| !bindable(port))))
    {
        runner.remove(&name).await?;
        existing = None;
    }
    let created = existing.is_none();
    let server = servers.get(&tenant.server).await?;
    let pool = &server.pool;
    let mut since = String::new();
    if created {
        // A bot made in the other mode would poll the same token.
        runner.other().remove(&name).await?;
        progress.set_message(if runner.is_service() { "creating the service" } else { "creating the container" });
        let spec = spec(servers, &server, engine, slug, tenant, &image, options).await?;
        since = runner.make(spec).await?;
    } else {
        progress.set_message("starting the container");
        runner.run(&name).await?;
    }
    progress.set_message("waiting for the bot to become healthy");
    // A server limit does not lift while the bot waits: knowing it is enough to give up.
    let refused = |error: &str| ConnectionLimit::in_message(error).is_some();
    let role = slug.schema();
    let (waited, known) = tokio::select! {
        waited = runner.wait_healthy(&name, &since, options.health_timeout, &refused) => (waited?, None),
        limit = refused_by_server(pool, &role) => {
            (Waited::Unhealthy { status: "the server lets it have no connection".into() }, Some(limit))
        }
    };
    let (failed, database) = match waited {
        Waited::Healthy => (None, None),
        Waited::Unconfirmed { why } => {
            tracing::warn!(tenant = %slug, "its bot runs, but its health is unconfirmed: {why}");
            (None, None)
        }
        Waited::TimedOut { database } => {
            (Some(format!("not healthy after {}", humantime::format_duration(options.health_timeout))), database)
        }
        Waited::Unhealthy { status } => (Some(status), None),
        Waited::DatabaseRefused { error } => (Some("its database connection was refused".to_string()), Some(error)),
    };
    if let Some(why) = failed {
        let logs = runner.last_logs(&name, LOG_LINES).await.unwrap_or_default();
        runner.remove(&name).await?;
        store::set_status(&mut *servers.control().acquire().await?, slug.as_str(), "stopped").await?;
        let said = database.iter().chain(logs.iter().rev()).find(|l| ConnectionLimit::in_message(l).is_some());
        // sqlx's pool may pass on only "pool timed out": then the server's own numbers tell.
        let connecting = database.is_some() || logs.iter().any(|l| l.contains("connect"));
        if said.is_some() || connecting || known.is_some() {
            let budget = Budget::read(pool, &role).await;
            let limit = said
                .and_then(|l| ConnectionLimit::in_message(l))
                .or(known)
                .or_else(|| budget.as_ref().ok()?.exhausted());
            if let Some(limit) = limit {
                let numbers = budget.map_or_else(|e| e, |b| b.to_string());
                let said = said.map_or_else(|| logs.join("\n"), |l| l.trim().to_string());
                anyhow::bail!(refused_message(slug, limit, &numbers, &said));
            }
        }
        let database = database.map(|e| format!("; its /healthz reports the database: {e}")).unwrap_or_default();
        anyhow::bail!(
            "tenant `{slug}`'s bot did not become healthy on {image} ({why}{database}); the container was removed \
             and the tenant is stopped. Its last log lines:\n{}\nFix the cause, then run `botctl tenant start {slug}`.",
            logs.join("\n")
        );
    }
    // The service's earlier secrets are unused now that its new task runs.
    runner.prune_secrets(&name, slug, &options.installation).await?;
    let mut tx = servers.control().begin().await?;
    store::set_status(&mut tx, slug.as_str(), "running").await?;
    store::set_image(&mut tx, slug.as_str(), &image).await?;
    tx.commit().await?;
    Ok(Started { tenant: slug.to_string(), container: name, created, image })
}

/// Why a new bot could not start when a server limit refused its connection.
fn refused_message(slug: &TenantSlug, limit: ConnectionLimit, numbers: &str, said: &str) -> String {
    let said = match said.trim() {
        "" => String::new(),
        said => format!(" What it said:\n{said}\n"),
    };
    format!(
        "tenant `{slug}`'s bot could not connect to PostgreSQL: {limit} ({numbers}).{said} The container was \
         removed and the tenant is stopped; running bots are untouched. Free connections (stop tenants, or raise \
         the limit), then run `botctl tenant start {slug}`."
    )
}

/// Ends when botctl's own view of the server shows that the starting bot cannot get a connection: a
/// limit is reached while the tenant's role holds none, at two reads a second apart (a busy moment
/// passes). The bot itself may take its pool's whole timeout to give up.
async fn refused_by_server(pool: &PgPool, role: &str) -> ConnectionLimit {
    let mut seen = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = match Budget::read(pool, role).await {
            Ok(budget) if budget.role_open == 0 => budget.exhausted(),
            _ => None,
        };
        match (seen, now) {
            (Some(before), Some(limit)) if before == limit => return limit,
            _ => seen = now,
        }
    }
}

/// The server's connection limits and what is open against them, as botctl's own connection sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Budget {
    max_connections: i32,
    reserved: i32,
    /// Client connections open on the whole server.
    open: i64,
    role: String,
    /// The role's `CONNECTION LIMIT`, -1 for none.
    role_limit: i32,
    role_open: i64,
    /// The database's `CONNECTION LIMIT`, -1 for none.
    database_limit: i32,
    database_open: i64,
}

impl Budget {
    /// Reads it; what cannot be read (botctl may be refused too) is the error's text.
    async fn read(pool: &PgPool, role: &str) -> Result<Self, String> {
        let read = async {
            let mut conn = pool.acquire().await?;
            sqlx::query_as::<_, (i32, i32, i64, i32, i64, i32, i64)>(sqlx::AssertSqlSafe(format!(
                "WITH clients AS ({}) \
                 SELECT current_setting('max_connections')::int, \
                 current_setting('superuser_reserved_connections')::int, \
                 (SELECT count(*) FROM clients), \
                 coalesce((SELECT rolconnlimit FROM pg_roles WHERE rolname = $1), -1), \
                 (SELECT count(*) FROM clients WHERE usename = $1), \
                 (SELECT datconnlimit FROM pg_database WHERE datname = current_database()), \
                 (SELECT count(*) FROM clients WHERE datname = current_database())",
                crate::db::CLIENT_SESSIONS
            )))
            .bind(role)
            .fetch_one(&mut *conn)
            .await
        };
        match tokio::time::timeout(Duration::from_secs(5), read).await {
            Ok(Ok((max_connections, reserved, open, role_limit, role_open, database_limit, database_open))) => {
                Ok(Self {
                    max_connections,
                    reserved,
                    open,
                    role: role.to_string(),
                    role_limit,
                    role_open,
                    database_limit,
                    database_open,
                })
            }
            Ok(Err(e)) => Err(format!("botctl could not read the server's numbers: {e}")),
            Err(_) => Err("botctl could not read the server's numbers in time".to_string()),
        }
    }

    /// The limit that is reached now, if one is.
    fn exhausted(&self) -> Option<ConnectionLimit> {
        if self.role_limit >= 0 && self.role_open >= i64::from(self.role_limit) {
            Some(ConnectionLimit::Role)
        } else if self.database_limit >= 0 && self.database_open >= i64::from(self.database_limit) {
            Some(ConnectionLimit::Database)
        } else if self.open >= i64::from(self.max_connections) {
            Some(ConnectionLimit::MaxConnections)
        } else if self.open >= i64::from(self.max_connections - self.reserved) {
            Some(ConnectionLimit::Reserved)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limit = |l: i32| if l < 0 { "none".to_string() } else { l.to_string() };
        write!(
            f,
            "max_connections {}, superuser_reserved_connections {}, {} client connections open; role {}: \
             CONNECTION LIMIT {}, {} open; this database: CONNECTION LIMIT {}, {} open",
            self.max_connections,
            self.reserved,
            self.open,
            self.role,
            limit(self.role_limit),
            self.role_open,
            limit(self.database_limit),
            self.database_open
        )
    }
}

/// Stops the container (SIGTERM, then its grace period) and marks the tenant stopped.
pub async fn stop(servers: &Servers, engine: &Engine, slug: &TenantSlug, actor: &str) -> anyhow::Result<()> {
    let _lock = lock(servers, slug).await?;
    let name = container_name(slug.as_str());
    Runner::found(engine, &name).await?.stop(&name, STOP_GRACE).await?;
    let mut tx = servers.control().begin().await?;
    store::set_status(&mut tx, slug.as_str(), "stopped").await?;
    store::record(&mut tx, actor, Some(slug.as_str()), "tenant.stop", json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives a running container the tenant's current limits; a tenant without one gets them at its next
/// create. Returns whether there was a container to change.
pub async fn apply_limits(
    servers: &Servers,
    engine: &Engine,
    slug: &TenantSlug,
    options: &RuntimeOptions,
) -> anyhow::Result<bool> {
    let _lock = lock(servers, slug).await?;
    let tenant = find(servers, slug).await?;
    let name = container_name(slug.as_str());
    let runner = Runner::found(engine, &name).await?;
    if inspect(runner, slug, options).await?.is_none() {
        return Ok(false);
    }
    let (memory, cpus) = limits(&tenant, options);
    runner.update_limits(&name, memory, cpus, options.health_timeout).await?;
    Ok(true)
}

/// The tenant's memory (bytes) and CPU (billionths) limits: its own, or the configured defaults.
fn limits(tenant: &Tenant, options: &RuntimeOptions) -> (i64, i64) {
    let memory_mb = tenant.memory_mb.map_or(i64::from(options.memory_mb), i64::from);
    let cpus = tenant.cpus.unwrap_or(options.cpus);
    (memory_mb << 20, (cpus * 1e9) as i64)
}

/// Removes the tenant's container (or service, with its secrets), whatever state it is in; nothing to
/// remove is fine.
pub async fn remove(servers: &Servers, engine: &Engine, slug: &TenantSlug) -> anyhow::Result<()> {
    let _lock = lock(servers, slug).await?;
    let name = container_name(slug.as_str());
    Runner::found(engine, &name).await?.remove(&name).await
}

/// What `botctl logs` asks for.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub follow: bool,
    /// Unix seconds.
    pub since: Option<i64>,
    pub tail: Option<usize>,
}

/// How long `logs --follow` waits for a stopped container to come back (a restart) before it ends.
const REATTACH_GRACE: Duration = Duration::from_secs(15);

/// Hands the tenant's container output to `line` (its RFC 3339 timestamp, then the line). With
/// `follow`, keeps going across restarts: when the stream ends while the container runs again within
/// the grace, it re-attaches where it left off; it ends when the container is gone or stays stopped.
pub async fn logs(
    engine: &Engine,
    slug: &TenantSlug,
    query: &LogQuery,
    mut line: impl FnMut(&str, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let name = container_name(slug.as_str());
    let runner = Runner::found(engine, &name).await?;
    if runner.state(&name).await?.is_none() {
        anyhow::bail!("tenant `{slug}` has no container (start it with `botctl tenant start {slug}`)");
    }
    // Timestamps of the same second repeat after a re-attach (`since` counts whole seconds): lines up
    // to the last one shown are skipped. RFC 3339 in UTC sorts as text.
    let mut last: Option<String> = None;
    let (mut since, mut tail) = (query.since, query.tail);
    loop {
        let mut stream = std::pin::pin!(runner.log_stream(&name, query.follow, since, tail));
        while let Some(chunk) = stream.next().await {
            for text in chunk?.split_inclusive(|b| *b == b'\n') {
                let (stamp, rest) = match text.iter().position(|b| *b == b' ') {
                    Some(at) => (String::from_utf8_lossy(&text[..at]).into_owned(), &text[at + 1..]),
                    None => (String::new(), text),
                };
                if last.as_ref().is_some_and(|l| stamp <= *l) {
                    continue;
                }
                line(&stamp, rest)?;
                last = Some(stamp);
            }
        }
        // A service's stream spans its tasks: it ends only with the service.
        if !query.follow || runner.is_service() || !comes_back(engine, &name).await? {
            return Ok(());
        }
        since = last.as_deref().and_then(|l| chrono::DateTime::parse_from_rfc3339(l).ok()).map(|t| t.timestamp());
        tail = None;
    }
}

/// Whether a container whose log stream ended runs again within the grace.
async fn comes_back(engine: &Engine, name: &str) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + REATTACH_GRACE;
    loop {
        match engine.container(name).await? {
            None => return Ok(false),
            Some(state) if state.status == "running" => return Ok(true),
            Some(_) if tokio::time::Instant::now() >= deadline => return Ok(false),
            Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// A `/healthz` port for a container on the host's network: free now, not another of this
/// installation's containers' (a stopped one wants its port back), and below the kernel's range of
/// ephemeral ports, so that no outgoing connection takes it while the bot restarts; picked at random, so
/// starts at the same moment (another installation's too) do not choose the same one.
fn health_port(taken: &std::collections::HashSet<u16>) -> anyhow::Result<u16> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let ports = HEALTH_PORTS_FROM..ephemeral.max(HEALTH_PORTS_FROM + 1000);
    (0..100)
        .map(|_| rand::random_range(ports.clone()))
        .find(|port| !taken.contains(port) && bindable(*port))
        .with_context(|| format!("no free port for /healthz between {} and {}", ports.start, ports.end))
}

/// Where containers' `/healthz` ports begin: above the well-known and most services' usual ports.
const HEALTH_PORTS_FROM: u16 = 10_000;

/// Whether nothing listens on `port` of the loopback address now.
fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The port of an address a container's label holds (`127.0.0.1:PORT`).
fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

/// The bot for `slug` running `image`, with a freshly rotated password for the tenant's role on its
/// server, `server`, and that server's address as containers reach it.
async fn spec(
    servers: &Servers,
    server: &Server,
    engine: &Engine,
    slug: &TenantSlug,
    tenant: &Tenant,
    image: &str,
    options: &RuntimeOptions,
) -> anyhow::Result<BotSpec> {
    let token = store::token(&mut *servers.control().acquire().await?, slug.as_str())
        .await?
        .with_context(|| format!("tenant `{slug}` does not exist"))?;
    let access = DatabaseAccess::of_server(server, &options.database)?;
    let password = provision::rotate_password(&mut *server.pool.acquire().await?, slug).await?;
    let role = slug.schema();
    let (mut database_url, mounts) = match &access {
        DatabaseAccess::Socket { dir, port, database } => {
            let mut url = url::Url::parse(&format!("postgres://localhost/{database}"))?;
            url.query_pairs_mut().append_pair("host", SOCKET_MOUNT).append_pair("port", &port.to_string());
            (url, vec![BindMount { source: dir.clone(), target: SOCKET_MOUNT.into(), read_only: true }])
        }
        DatabaseAccess::Tcp { host, port, database } => {
            (url::Url::parse(&format!("postgres://{host}:{port}/{database}"))?, Vec::new())
        }
    };
    database_url.set_username(&role).map_err(|()| anyhow::anyhow!("cannot put role {role} in a URL"))?;
    // Under host networking every container shares the host's ports, so each gets its own (the
    // container's healthcheck and botctl waiting for it use it); on a bridge each has its own address.
    let http_addr = if options.network == "host" {
        let taken = super::runner::managed(engine, &options.installation).await?;
        let taken = taken.iter().filter_map(|c| port_of(c.labels.get(HTTP)?)).collect();
        format!("127.0.0.1:{}", health_port(&taken)?)
    } else {
        "0.0.0.0:8080".to_string()
    };
    let (memory_bytes, nano_cpus) = limits(tenant, options);
    let image_id = engine.image(image).await?.map(|i| i.id).unwrap_or_default();
    let container = ContainerSpec {
        name: container_name(slug.as_str()),
        image: image.to_string(),
        labels: HashMap::from([
            (MANAGED.to_string(), "true".to_string()),
            (TENANT.to_string(), slug.to_string()),
            (INSTALLATION.to_string(), options.installation.clone()),
            ("botctl.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            (HTTP.to_string(), http_addr.clone()),
        ]),
        env: vec![
            format!("BOTCTL_TENANT={slug}"),
            format!("BOTCTL_TELEGRAM_API_URL={}", options.telegram_api_url),
            format!("BOTCTL_TELEGRAM_RATE_LIMITS={}", options.rate_limits),
            format!("BOTCTL_HTTP_ADDR={http_addr}"),
            "BOTCTL_LOG=info".to_string(),
        ],
        network: options.network.clone(),
        mounts,
        memory_bytes,
        nano_cpus,
        healthcheck: vec![BINARY.to_string(), "health".to_string()],
        // Rare in both modes: botctl asks a new bot itself, and a service gets a fast first check
        // (`start_interval`) where the engine has one, or no Docker check at all.
        health_interval: options.health_interval,
        // Docker counts no failure while botctl itself still waits for the bot.
        health_start_period: options.health_timeout,
        stop_grace: STOP_GRACE,
    };
    Ok(BotSpec {
        container,
        database_url,
        token,
        password,
        image_id,
        placement: options.placement.clone(),
        slug: slug.clone(),
        installation: options.installation.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_health_port_is_free_below_the_ephemeral_range_and_not_another_containers() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let held = held.local_addr().unwrap().port();
        // All but two ports of the range are another container's: the pick must be one of those two.
        let taken: std::collections::HashSet<u16> = (HEALTH_PORTS_FROM..u16::MAX).filter(|p| p % 5000 != 7).collect();
        for _ in 0..20 {
            let port = health_port(&std::collections::HashSet::from([held])).unwrap();
            assert!(port >= HEALTH_PORTS_FROM && port != held && bindable(port), "{port}");
        }
        if let Ok(port) = health_port(&taken) {
            assert_eq!(port % 5000, 7, "{port}");
        }
        assert_eq!(port_of("127.0.0.1:18080"), Some(18080));
        assert_eq!(port_of("garbage"), None);
    }

    fn budget() -> Budget {
        Budget {
            max_connections: 100,
            reserved: 3,
            open: 40,
            role: "tenant_acme".into(),
            role_limit: -1,
            role_open: 0,
            database_limit: -1,
            database_open: 40,
        }
    }

    #[test]
    fn a_start_refused_by_the_server_names_the_limit_and_its_numbers() {
        let slug: TenantSlug = "acme".parse().unwrap();
        let said = "error returned from database: sorry, too many clients already";
        let limit = ConnectionLimit::in_message(said).unwrap();
        let full = Budget { open: 100, database_open: 100, ..budget() };
        let message = refused_message(&slug, limit, &full.to_string(), said);
        assert!(message.contains("the server's max_connections is reached (max_connections 100,"), "{message}");
        assert!(message.contains("superuser_reserved_connections 3, 100 client connections open"), "{message}");
        assert!(message.contains("too many clients already"), "{message}");
        assert!(message.contains("botctl tenant start acme") && message.contains("tenant is stopped"), "{message}");
    }

    #[test]
    fn the_servers_numbers_tell_which_limit_is_reached() {
        assert_eq!(budget().exhausted(), None);
        assert_eq!(Budget { open: 100, ..budget() }.exhausted(), Some(ConnectionLimit::MaxConnections));
        assert_eq!(Budget { open: 97, ..budget() }.exhausted(), Some(ConnectionLimit::Reserved));
        assert_eq!(Budget { role_limit: 0, ..budget() }.exhausted(), Some(ConnectionLimit::Role));
        assert_eq!(Budget { role_limit: 2, role_open: 1, ..budget() }.exhausted(), None);
        assert_eq!(Budget { database_limit: 40, ..budget() }.exhausted(), Some(ConnectionLimit::Database));
        let shown = Budget { role_limit: 0, ..budget() }.to_string();
        assert!(shown.contains("role tenant_acme: CONNECTION LIMIT 0, 0 open"), "{shown}");
    }
}
