//! PostgreSQL: which database botctl uses, connecting to it, the control plane and migrations.
//!
//! `db` knows nothing of Docker, Telegram or the command line; `tenant` orchestrates it.

pub mod citus;
pub mod cluster;
pub mod control;
pub mod migrate;
pub mod provision;
pub mod servers;
pub mod snapshot;
mod url;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub use url::{DatabaseUrl, DatabaseUrlError};

use crate::progress::Progress;
use cluster::{LocalCluster, Started};

/// Where the operator's database is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// A server URL, or `None` for botctl's local cluster under `data_dir`.
    pub url: Option<DatabaseUrl>,
    pub data_dir: PathBuf,
    pub postgres_bin_dir: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// The pool's size: small for the CLI, one more than `--jobs` for fleet commands.
    pub max_connections: u32,
    /// How long a statement waits for a lock another session holds before it fails; `None` waits.
    pub lock_timeout: Option<Duration>,
}

impl DbOptions {
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;
}

/// Which database is in use, for messages and `botctl doctor`.
#[derive(Debug, Clone)]
pub enum Location {
    Server(DatabaseUrl),
    /// `shared_socket`: the directory tenant containers mount to reach the cluster.
    Local {
        pgdata: PathBuf,
        shared_socket: PathBuf,
        started: Started,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Server(url) => write!(f, "server {url}"),
            Location::Local { pgdata, started, .. } => {
                let how = match started {
                    Started::AlreadyRunning => "running",
                    Started::Started => "started now",
                    Started::CreatedAndStarted => "created and started now",
                };
                write!(f, "botctl's local cluster in {} ({how})", pgdata.display())
            }
        }
    }
}

/// An open pool on the operator's database.
pub struct Database {
    pub pool: PgPool,
    pub location: Location,
    /// How the pool connects, for connections as another role to the same database.
    pub options: PgConnectOptions,
    /// The servers tenants live on, `main` being this one: every tenant operation routes through it.
    pub servers: servers::Servers,
}

impl Database {
    /// The same database, as a tenant's role.
    pub fn as_role(&self, role: &str, password: &str) -> PgConnectOptions {
        self.options.clone().username(role).password(password)
    }
}

/// Connects to the configured server, or creates and starts the local cluster first.
pub async fn connect(options: &DbOptions, progress: &dyn Progress) -> anyhow::Result<Database> {
    let (connect, location) = match &options.url {
        Some(url) => (url.connect_options(), Location::Server(url.clone())),
        None => {
            let cluster = LocalCluster::new(&options.data_dir, options.postgres_bin_dir.as_deref())?;
            let started = cluster.ensure_running(progress).await.with_context(|| {
                format!("could not start botctl's local PostgreSQL cluster in {}", cluster.pgdata().display())
            })?;
            let location =
                Location::Local { pgdata: cluster.pgdata(), shared_socket: cluster.shared_socket_dir(), started };
            (cluster.connect_options(), location)
        }
    };
    progress.set_message("connecting to PostgreSQL");
    tracing::debug!(%location, timeout = ?options.connect_timeout, "connecting to PostgreSQL");
    let pool = pool(connect.clone(), options.connect_timeout, options.max_connections, options.lock_timeout)
        .await
        .with_context(|| format!("could not connect to PostgreSQL ({location})"))?;
    let main = servers::Server {
        name: servers::MAIN.to_string(),
        pool: pool.clone(),
        options: connect.clone(),
        container_host: None,
    };
    let settings = servers::PoolSettings {
        connect_timeout: options.connect_timeout,
        max_connections: options.max_connections,
        lock_timeout: options.lock_timeout,
    };
    Ok(Database { pool, location, options: connect, servers: servers::Servers::new(main, settings) })
}

async fn pool(
    options: PgConnectOptions,
    timeout: Duration,
    size: u32,
    lock_timeout: Option<Duration>,
) -> anyhow::Result<PgPool> {
    // The pool retries a refused connection until its timeout and then says only "pool timed out"; one
    // plain attempt first fails at once with the real reason.
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
        }
        Ok(Err(e)) => return Err(unreachable(e, &options)),
        Err(_) => anyhow::bail!("no answer from {} within {}", address(&options), humantime::format_duration(timeout)),
    }
    let lock_timeout = lock_timeout.map_or(0, |t| t.as_millis().max(1)).to_string();
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(timeout)
        .after_connect(move |conn, _| {
            let lock_timeout = lock_timeout.clone();
            Box::pin(async move {
                // A server backend does not notice by itself that botctl went away (interrupted,
                // killed) while it waits for a lock: checking the socket every second makes it give up
                // then. PostgreSQL 14 has the setting; older servers go without.
                sqlx::query(
                    "SELECT set_config('lock_timeout', $1, false), \
                     CASE WHEN current_setting('server_version_num')::int >= 140000 \
                     THEN set_config('client_connection_check_interval', '1000', false) END",
                )
                .bind(lock_timeout)
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

/// The server's client sessions (`usename`, `datname`), as any role may count them: other roles'
/// sessions show no `backend_type` to a role without pg_read_all_stats; those with a database and a user
/// are client backends but for the rare parallel worker. One definition for every count of them.
pub const CLIENT_SESSIONS: &str = "SELECT usename, datname FROM pg_stat_activity \
     WHERE coalesce(backend_type = 'client backend', datid IS NOT NULL AND usesysid IS NOT NULL)";

/// Whether a statement gave up waiting for a lock (`lock_timeout`, SQLSTATE 55P03 lock_not_available).
pub fn is_lock_timeout(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        matches!(e.downcast_ref::<sqlx::Error>(), Some(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55P03"))
    })
}

/// Which of the server's limits refused a connection (SQLSTATE 53300, too_many_connections). The
/// server's message tells them apart; the code alone does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionLimit {
    /// Every one of `max_connections` is taken.
    MaxConnections,
    /// The slots left are kept for superusers (`superuser_reserved_connections`, `reserved_connections`).
    Reserved,
    /// The role's own `CONNECTION LIMIT`.
    Role,
    /// The database's own `CONNECTION LIMIT`.
    Database,
}

impl ConnectionLimit {
    /// The limit that refused `error`'s connection, if a limit did.
    pub fn of(error: &sqlx::Error) -> Option<Self> {
        match error {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("53300") => {
                Some(Self::in_message(db.message()).unwrap_or(Self::MaxConnections))
            }
            _ => None,
        }
    }

    /// The limit a server's refusal names, wherever its text was passed on (a bot's `/healthz`).
    pub fn in_message(message: &str) -> Option<Self> {
        if message.contains("too many clients already") {
            Some(Self::MaxConnections)
        } else if message.contains("connection slots are reserved") {
            Some(Self::Reserved)
        } else if message.contains("too many connections for role") {
            Some(Self::Role)
        } else if message.contains("too many connections for database") {
            Some(Self::Database)
        } else {
            None
        }
    }
}

impl fmt::Display for ConnectionLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MaxConnections => "the server's max_connections is reached",
            Self::Reserved => {
                "only the slots reserved for superusers are left (max_connections less superuser_reserved_connections)"
            }
            Self::Role => "the role's CONNECTION LIMIT is reached",
            Self::Database => "the database's CONNECTION LIMIT is reached",
        })
    }
}

/// The tables of `schemas` that other sessions hold locks on, as `schema.table`, and the lock timeout
/// the pool's sessions wait.
pub async fn locked_tables(pool: &PgPool, schemas: &[String]) -> Result<(Vec<String>, String), sqlx::Error> {
    let tables = sqlx::query_scalar(
        "SELECT DISTINCT n.nspname::text || '.' || c.relname::text FROM pg_locks l \
         JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE l.granted AND l.pid <> pg_backend_pid() AND c.relkind IN ('r', 'p') AND n.nspname = ANY($1) \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1",
    )
    .bind(schemas)
    .fetch_all(pool)
    .await?;
    let timeout = sqlx::query_scalar("SELECT current_setting('lock_timeout')").fetch_one(pool).await?;
    Ok((tables, timeout))
}

/// Says which address refused or could not be found, or which of the server's limits refused botctl;
/// sqlx's own message names neither.
fn unreachable(error: sqlx::Error, options: &PgConnectOptions) -> anyhow::Error {
    if let Some(limit) = ConnectionLimit::of(&error) {
        let user = options.get_username();
        return anyhow::Error::new(error)
            .context(format!("the server at {} refused botctl's connection as {user}: {limit}", address(options)));
    }
    let kind = match &error {
        sqlx::Error::Io(io) => io.kind(),
        _ => return error.into(),
    };
    let reason = match kind {
        std::io::ErrorKind::ConnectionRefused => "connection refused",
        std::io::ErrorKind::NotFound => "no such socket",
        _ => "cannot reach the server",
    };
    anyhow::Error::new(error).context(format!("{reason} at {}", address(options)))
}

/// `host:port`, or the socket path, that `options` connect to (never the password).
fn address(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(dir) => format!("{} (port {})", dir.display(), options.get_port()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectionLimit;

    #[test]
    fn a_refusal_names_the_limit_that_refused() {
        let cases = [
            ("sorry, too many clients already", ConnectionLimit::MaxConnections),
            (
                "remaining connection slots are reserved for non-replication superuser connections",
                ConnectionLimit::Reserved,
            ),
            (
                "remaining connection slots are reserved for roles with the SUPERUSER attribute",
                ConnectionLimit::Reserved,
            ),
            ("too many connections for role \"tenant_acme\"", ConnectionLimit::Role),
            ("too many connections for database \"botctl\"", ConnectionLimit::Database),
        ];
        for (message, limit) in cases {
            assert_eq!(ConnectionLimit::in_message(&format!("error returned from database: {message}")), Some(limit));
        }
        assert_eq!(ConnectionLimit::in_message("password authentication failed for user \"tenant_acme\""), None);
    }
}
