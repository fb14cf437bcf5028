//! The PostgreSQL servers tenant schemas live on (`botctl.servers`), and one lazily opened pool per
//! server: the operator's own server (`main`, which also holds the control plane) and those added with
//! `botctl server add`. Every tenant's record names its server; operations route through [`Servers`].

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};

use super::DatabaseUrl;
use crate::error::BadInput;

/// The operator's own server: botctl's connection reaches it, and the control plane lives there.
pub const MAIN: &str = "main";

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
}

type Row = (String, Option<String>, Option<String>, i32, bool, i64);

const SELECT: &str = "SELECT s.name, s.url, s.container_host, s.capacity, s.draining, \
     (SELECT count(*) FROM botctl.tenants t WHERE t.server = s.name AND t.deleted_at IS NULL) \
     FROM botctl.servers s";

fn from_row((name, url, container_host, capacity, draining, tenants): Row) -> anyhow::Result<ServerRecord> {
    let url = url
        .map(|u| u.parse::<DatabaseUrl>())
        .transpose()
        .with_context(|| format!("server `{name}`'s recorded URL is not valid"))?;
    Ok(ServerRecord { name, url, container_host, capacity, draining, tenants })
}

pub async fn record(conn: &mut PgConnection, name: &str) -> anyhow::Result<Option<ServerRecord>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE s.name = $1")))
        .bind(name)
        .fetch_optional(conn)
        .await?;
    row.map(from_row).transpose()
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
