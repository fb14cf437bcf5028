//! The PostgreSQL servers tenant schemas live on (`botctl.servers`), and one lazily opened pool per
//! server: the operator's own server (`main`, which also holds the control plane) and those added with
//! `botctl server add`. Every tenant's record names its server; operations route through [`Servers`].

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::future::join_all;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::DatabaseUrl;
use crate::error::BadInput;

/// The operator's own server: botctl's connection reaches it, and the control plane lives there.
pub const MAIN: &str = "main";

/// How many tenants placement puts on a server added without `--capacity` (as `main` starts with):
/// the few thousand schemas per server that scale-out research advises planning on.
pub const DEFAULT_CAPACITY: i32 = 2000;

/// The oldest PostgreSQL botctl supports (`server_version_num`), as DEPLOYMENT.md says: 15.
pub const MIN_VERSION_NUM: i32 = 150_000;

/// A server's name: `^[a-z][a-z0-9-]{0,30}$`, as the table's CHECK says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ServerName(String);

impl FromStr for ServerName {
    type Err = BadInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !first_ok || !rest_ok || s.len() > 31 {
            return Err(BadInput::new(format!(
                "invalid server name `{s}`: a lowercase letter, then up to 30 lowercase letters, digits or `-`"
            )));
        }
        Ok(Self(s.to_string()))
    }
}

impl ServerName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_main(&self) -> bool {
        self.0 == MAIN
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One server, connected: a pool as the administrator its URL names (for `main`, botctl's own).
#[derive(Clone)]
pub struct Server {
    pub name: String,
    pub pool: PgPool,
    /// How the pool connects, for connections as a tenant's role to the same database.
    pub options: PgConnectOptions,
    /// How tenant containers reach it, when not as the URL says (`runtime.database_host` for `main`).
    pub container_host: Option<String>,
}

impl Server {
    pub fn is_main(&self) -> bool {
        self.name == MAIN
    }

    /// The same database, as a tenant's role.
    pub fn as_role(&self, role: &str, password: &str) -> PgConnectOptions {
        self.options.clone().username(role).password(password)
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").field("name", &self.name).finish_non_exhaustive()
    }
}

/// How pools to other servers are sized and how long they wait: the same as botctl's own pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub connect_timeout: Duration,
    pub max_connections: u32,
    pub lock_timeout: Option<Duration>,
}

/// The control plane's pool and a pool per server, opened on first use and kept: a fleet command reaches
/// each server through one pool however many of its tenants it works on. Cheap to clone.
#[derive(Clone)]
pub struct Servers(Arc<Inner>);

struct Inner {
    main: Server,
    settings: PoolSettings,
    /// One lock per name, so that two tasks asking for the same server at once open one pool.
    opened: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Server>>>>,
}

impl Servers {
    pub fn new(main: Server, settings: PoolSettings) -> Self {
        Self(Arc::new(Inner { main, settings, opened: tokio::sync::Mutex::new(HashMap::new()) }))
    }

    /// Servers whose `main` is reached through `pool` (botctl's own), other servers' pools sized and
    /// waited for as it is: for a caller given no more than the control plane's pool.
    pub fn from_pool(pool: PgPool) -> Self {
        let options = pool.options();
        let settings = PoolSettings {
            connect_timeout: options.get_acquire_timeout(),
            max_connections: options.get_max_connections(),
            lock_timeout: None,
        };
        let connect = (*pool.connect_options()).clone();
        Self::new(Server { name: MAIN.to_string(), pool, options: connect, container_host: None }, settings)
    }

    /// The control plane's pool (on `main`).
    pub fn control(&self) -> &PgPool {
        &self.0.main.pool
    }

    pub fn main(&self) -> &Server {
        &self.0.main
    }

    /// The server named `name`, connected. An unknown name is bad input; an unreachable server is an
    /// error that names it (and never its password).
    pub async fn get(&self, name: &str) -> anyhow::Result<Server> {
        if name == MAIN {
            return Ok(self.0.main.clone());
        }
        let cell = self.0.opened.lock().await.entry(name.to_string()).or_default().clone();
        let server = cell
            .get_or_try_init(|| async {
                let record = record(&mut *self.control().acquire().await?, name)
                    .await?
                    .ok_or_else(|| BadInput::new(format!("no server `{name}` (see `botctl server list`)")))?;
                let url = record.url.with_context(|| format!("server `{name}` has no URL"))?;
                let options = url.connect_options();
                let s = self.0.settings;
                let pool = super::pool(options.clone(), s.connect_timeout, s.max_connections, s.lock_timeout)
                    .await
                    .with_context(|| format!("cannot reach server `{name}` ({url})"))?;
                anyhow::Ok(Server { name: name.to_string(), pool, options, container_host: record.container_host })
            })
            .await?;
        Ok(server.clone())
    }

    /// Each of `names` connected, or why it could not be: tried at once, each once, so that a fleet
    /// command fails only the tenants of a server it cannot reach, and each of them with one reason.
    pub async fn reach(&self, names: impl IntoIterator<Item = String>) -> HashMap<String, Result<Server, String>> {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        names.dedup();
        let reached = join_all(names.iter().map(|name| self.get(name))).await;
        names
            .into_iter()
            .zip(reached)
            .map(|(name, got)| {
                let got = got.map_err(|e| format!("server `{name}` unreachable: {e:#}"));
                (name, got)
            })
            .collect()
    }

    /// A connection to `url` as `server add` makes it before anything is recorded: within the pools'
    /// connect timeout, its refusal told with the address (never the password).
    pub async fn probe(&self, url: &DatabaseUrl) -> anyhow::Result<PgPool> {
        let s = self.0.settings;
        super::pool(url.connect_options(), s.connect_timeout, 1, None).await
    }

    /// The server the live (or being deleted) tenant `slug` lives on.
    pub async fn of_tenant(&self, slug: &str) -> anyhow::Result<Server> {
        let name: Option<String> =
            sqlx::query_scalar("SELECT server FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL")
                .bind(slug)
                .fetch_optional(self.control())
                .await?;
        let name = name.ok_or_else(|| BadInput::new(format!("no tenant `{slug}` (see `botctl tenant list`)")))?;
        self.get(&name).await
    }
}

/// The transactions a tenant operation works in: the control plane's on `main`, and the one on the
/// tenant's server — the very same transaction when the tenant lives on `main`, so that a single-server
/// installation stays all-or-nothing. Across two servers it cannot be one transaction: [`commit`]
/// commits the tenant server's first, then the control plane's, and says which failed.
///
/// [`commit`]: Transactions::commit
pub struct Transactions {
    control: Transaction<'static, Postgres>,
    tenant: Option<Transaction<'static, Postgres>>,
}

/// Which commit of [`Transactions::commit`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Nothing was committed.
    #[error("committing on the tenant's server: {0}")]
    Tenant(#[source] sqlx::Error),
    /// The tenant server's work is committed, the control plane's is not.
    #[error("committing in the control plane (the tenant's server already committed its part): {0}")]
    Control(#[source] sqlx::Error),
}

impl Transactions {
    /// Begins the control plane's transaction; [`Self::on`] adds the tenant server's.
    pub async fn begin(servers: &Servers) -> Result<Self, sqlx::Error> {
        Ok(Self { control: servers.control().begin().await?, tenant: None })
    }

    /// Both, for a tenant on `server`.
    pub async fn begin_on(servers: &Servers, server: &Server) -> Result<Self, sqlx::Error> {
        Self::begin(servers).await?.on(server).await
    }

    /// Adds the transaction on `server`, unless that is `main`, where the control plane's serves both.
    pub async fn on(mut self, server: &Server) -> Result<Self, sqlx::Error> {
        if !server.is_main() {
            self.tenant = Some(server.pool.begin().await?);
        }
        Ok(self)
    }

    pub fn control(&mut self) -> &mut PgConnection {
        &mut self.control
    }

    /// The tenant's server's transaction (the control plane's on `main`).
    pub fn tenant(&mut self) -> &mut PgConnection {
        match &mut self.tenant {
            Some(tx) => tx,
            None => &mut self.control,
        }
    }

    /// Whether the tenant's server is not `main`, so that the two commit apart.
    pub fn is_split(&self) -> bool {
        self.tenant.is_some()
    }

    /// The tenant server's transaction first, then the control plane's: a record never names work
    /// that is not there.
    pub async fn commit(self) -> Result<(), CommitError> {
        if let Some(tenant) = self.tenant {
            tenant.commit().await.map_err(CommitError::Tenant)?;
        }
        self.control.commit().await.map_err(CommitError::Control)
    }
}

/// What botctl reads of a server before it records it, and `server list` shows.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `server_version`, e.g. `15.18`.
    pub version: String,
    pub version_num: i32,
    /// Which cluster it is: see [`cluster`].
    pub cluster: String,
    pub privileges: super::control::Privileges,
}

/// Reads a server's version, botctl's privileges there and which cluster it is.
pub async fn facts(conn: &mut PgConnection) -> anyhow::Result<Facts> {
    let (version, version_num): (String, i32) =
        sqlx::query_as("SELECT current_setting('server_version'), current_setting('server_version_num')::int")
            .fetch_one(&mut *conn)
            .await?;
    let privileges = super::control::privileges_on(&mut *conn).await?;
    Ok(Facts { version, version_num, cluster: cluster(conn).await?, privileges })
}

/// The cluster a connection reaches, as one text to compare: its system identifier when the role may
/// read `pg_control_system()` (superusers and pg_monitor may), else the server's address and port
/// (`local socket` for a socket connection), which tells clusters on one host apart by their ports.
pub async fn cluster(conn: &mut PgConnection) -> anyhow::Result<String> {
    let id: Result<String, sqlx::Error> =
        sqlx::query_scalar("SELECT system_identifier::text FROM pg_control_system()").fetch_one(&mut *conn).await;
    match id {
        Ok(id) => Ok(format!("system {id}")),
        // Outside a transaction, so the refusal spoils nothing for the next statement.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => Ok(sqlx::query_scalar(
            "SELECT 'address ' || coalesce(host(inet_server_addr()), 'local socket') || ':' || current_setting('port')",
        )
        .fetch_one(conn)
        .await?),
        Err(e) => Err(e.into()),
    }
}

/// A server as `botctl.servers` records it.
#[derive(Debug, Clone)]
pub struct ServerRecord {
    pub name: String,
    /// `None` for `main`.
    pub url: Option<DatabaseUrl>,
    pub container_host: Option<String>,
    pub capacity: i32,
    pub draining: bool,
    /// Live tenants recorded on it.
    pub tenants: i64,
    /// Which cluster it is, as [`cluster`] read it when it was added; `None` for `main`.
    pub cluster: Option<String>,
}

type Row = (String, Option<String>, Option<String>, i32, bool, i64, Option<String>);

const SELECT: &str = "SELECT s.name, s.url, s.container_host, s.capacity, s.draining, \
     (SELECT count(*) FROM botctl.tenants t WHERE t.server = s.name AND t.deleted_at IS NULL), s.cluster \
     FROM botctl.servers s";

fn from_row((name, url, container_host, capacity, draining, tenants, cluster): Row) -> anyhow::Result<ServerRecord> {
    let url = url
        .map(|u| u.parse::<DatabaseUrl>())
        .transpose()
        .with_context(|| format!("server `{name}`'s recorded URL is not valid"))?;
    Ok(ServerRecord { name, url, container_host, capacity, draining, tenants, cluster })
}

pub async fn record(conn: &mut PgConnection, name: &str) -> anyhow::Result<Option<ServerRecord>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE s.name = $1")))
        .bind(name)
        .fetch_optional(conn)
        .await?;
    row.map(from_row).transpose()
}

/// The same, its row locked until the transaction ends.
pub async fn record_for_update(conn: &mut PgConnection, name: &str) -> anyhow::Result<Option<ServerRecord>> {
    let sql = format!("{SELECT} WHERE s.name = $1 FOR UPDATE OF s");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(conn).await?;
    row.map(from_row).transpose()
}

/// A new server's record.
pub struct NewServer<'a> {
    pub name: &'a ServerName,
    pub url: &'a DatabaseUrl,
    pub container_host: Option<&'a str>,
    pub capacity: i32,
    pub cluster: &'a str,
}

pub async fn insert(conn: &mut PgConnection, new: &NewServer<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO botctl.servers (name, url, container_host, capacity, cluster) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new.name.as_str())
    .bind(new.url.expose())
    .bind(new.container_host)
    .bind(new.capacity)
    .bind(new.cluster)
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes what is given (`None` keeps it).
pub async fn update(
    conn: &mut PgConnection,
    name: &str,
    capacity: Option<i32>,
    container_host: Option<&str>,
    draining: Option<bool>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE botctl.servers SET capacity = coalesce($2, capacity), \
         container_host = coalesce($3, container_host), draining = coalesce($4, draining) WHERE name = $1",
    )
    .bind(name)
    .bind(capacity)
    .bind(container_host)
    .bind(draining)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM botctl.servers WHERE name = $1").bind(name).execute(conn).await?;
    Ok(())
}

pub async fn records(conn: &mut PgConnection) -> anyhow::Result<Vec<ServerRecord>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY s.name = 'main' DESC, s.name")))
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(from_row).collect()
}

/// Where a new tenant goes: `requested` if given (it must exist), else the server that is not draining
/// and has the most room left under its capacity. Locks the chosen server's row until `tx` ends, so
/// creates racing for its last places wait for one another.
pub async fn place(tx: &mut PgConnection, requested: Option<&ServerName>) -> anyhow::Result<String> {
    if let Some(name) = requested {
        let found: Option<String> = sqlx::query_scalar("SELECT name FROM botctl.servers WHERE name = $1 FOR UPDATE")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        return found.ok_or_else(|| BadInput::new(format!("no server `{name}` (see `botctl server list`)")).into());
    }
    let chosen: Option<String> = sqlx::query_scalar(
        "WITH load AS (SELECT s.name, s.capacity - (SELECT count(*) FROM botctl.tenants t \
         WHERE t.server = s.name AND t.deleted_at IS NULL) AS room FROM botctl.servers s WHERE NOT s.draining) \
         SELECT s.name FROM botctl.servers s JOIN load USING (name) WHERE load.room > 0 \
         ORDER BY load.room DESC, s.name = 'main' DESC, s.name LIMIT 1 FOR UPDATE OF s",
    )
    .fetch_optional(&mut *tx)
    .await?;
    chosen.ok_or_else(|| {
        BadInput::new(
            "no server has room for a new tenant: every server is full or draining (`botctl server list`); add \
             one with `botctl server add`, raise a capacity, or name one with --server",
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_follow_the_tables_rule() {
        for good in ["main", "pg2", "eu-west-1", "a"] {
            assert_eq!(good.parse::<ServerName>().unwrap().as_str(), good);
        }
        for bad in ["", "2pg", "PG", "pg_2", "pg 2", &"a".repeat(32)] {
            let err = bad.parse::<ServerName>().unwrap_err().to_string();
            assert!(err.contains("invalid server name"), "{bad}: {err}");
        }
        assert!("main".parse::<ServerName>().unwrap().is_main());
    }
}
