//! The test harness: the real binary in a sandboxed home, and a real PostgreSQL.
//!
//! When BOTCTL_TEST_DATABASE_URL is unset, the first test that needs PostgreSQL starts a throwaway
//! cluster with botctl's own `db::cluster` code; it is stopped and deleted when the test process exits.
//! Every test gets its own database and unique role names, and drops them when done.

pub mod chat;
pub mod http;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use assert_cmd::Command;
use botctl::db::cluster::LocalCluster;
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;

/// A private HOME and XDG directories, so no test reads the machine's real configuration.
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Run as root, the local PostgreSQL server runs as `postgres`, which must be able to pass through.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The real botctl binary with a clean environment: only PATH survives from the outside.
    pub fn botctl(&self) -> Command {
        Command::from_std(self.process())
    }

    /// The same, to spawn and signal while it runs.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("botctl"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"));
        cmd
    }

    /// Writes `$XDG_CONFIG_HOME/botctl/config.yaml`, the file botctl finds without --config.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.path().join("config/botctl/config.yaml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A name no other test (or earlier run) uses: roles are cluster-wide, so names must not collide.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}_{}_{}_{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
}

/// Runs a future on the harness's own runtime, so tests stay plain `#[test]` functions.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().unwrap()).block_on(future)
}

/// The PostgreSQL server the tests use, as an admin (superuser) URL.
pub fn server_url() -> &'static url::Url {
    static SERVER: OnceLock<url::Url> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("BOTCTL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url::Url::parse(&url).expect("BOTCTL_TEST_DATABASE_URL is a URL"),
        _ => throwaway_cluster(),
    })
}

fn throwaway_cluster() -> url::Url {
    let cluster = start_cluster("botctl-test-pg");
    THROWAWAY.set(cluster).unwrap();
    // SAFETY: `stop_throwaway` is a plain extern "C" function that only reads a set-once static.
    unsafe { nix::libc::atexit(stop_throwaway) };
    url::Url::parse(&THROWAWAY.get().unwrap().url()).unwrap()
}

/// A new cluster in a temporary directory named from `prefix`, started.
fn start_cluster(prefix: &str) -> LocalCluster {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap().keep();
    let cluster = LocalCluster::new(&dir, None).expect("PostgreSQL server binaries are installed");
    // A thread and runtime of its own: the first caller may already be inside `block_on`.
    let starter = cluster.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(starter.ensure_running(&botctl::progress::NoProgress)).expect("the throwaway cluster starts");
    })
    .join()
    .unwrap();
    cluster
}

static THROWAWAY: OnceLock<LocalCluster> = OnceLock::new();

/// Stops the throwaway server and deletes its files when the test process exits.
extern "C" fn stop_throwaway() {
    if let Some(cluster) = THROWAWAY.get() {
        let _ = cluster.stop();
        if let Some(dir) = cluster.pgdata().parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The admin URL pointed at another database of the same server.
pub fn url_for(database: &str, user: Option<(&str, &str)>) -> String {
    let mut url = server_url().clone();
    url.set_path(&format!("/{database}"));
    if let Some((name, password)) = user {
        url.set_username(name).unwrap();
        url.set_password(Some(password)).unwrap();
    }
    url.to_string()
}

pub async fn admin() -> PgConnection {
    PgConnection::connect(server_url().as_str()).await.expect("the test server accepts the admin")
}

/// A database of its own for one test, dropped (with its connections) when the test ends.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new() -> Self {
        let name = unique_name("botctl_test");
        block_on(async {
            admin().await.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.unwrap();
        });
        Self { name }
    }

    /// The admin's URL for this database.
    pub fn url(&self) -> String {
        url_for(&self.name, None)
    }

    pub fn connect(&self) -> PgConnection {
        block_on(async { PgConnection::connect(&self.url()).await.unwrap() })
    }
}

impl Drop for TestDb {
    /// Drops the database and the tenant roles made in it: roles belong to the whole cluster.
    fn drop(&mut self) {
        let url = self.url();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        block_on(async {
            let slugs: Vec<String> = match PgConnection::connect(&url).await {
                Ok(mut conn) => {
                    sqlx::query_scalar("SELECT slug FROM botctl.tenants").fetch_all(&mut conn).await.unwrap_or_default()
                }
                Err(_) => Vec::new(),
            };
            let mut admin = admin().await;
            let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
            for slug in slugs {
                let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS \"tenant_{slug}\""))).await;
            }
        });
    }
}

/// A tenant name no other test uses (tenant roles are cluster-wide).
pub fn unique_slug() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t{}_{}_{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos & 0xfff_ffff)
}

/// A well-formed bot token for `bot_id`.
pub fn token(bot_id: i64) -> String {
    format!("{bot_id}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs{:03}", bot_id % 1000)
}

/// A login role with a password and no privileges beyond LOGIN, dropped when the test ends.
pub struct TestRole {
    pub name: String,
    pub password: String,
}

impl TestRole {
    pub fn new() -> Self {
        let name = unique_name("botctl_role");
        let password = unique_name("pw");
        let sql = format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'");
        block_on(async { admin().await.execute(sqlx::AssertSqlSafe(sql)).await.unwrap() });
        Self { name, password }
    }

    pub fn url(&self, db: &TestDb) -> String {
        url_for(&db.name, Some((&self.name, &self.password)))
    }

    pub fn grant(&self, sql: &str) {
        block_on(async { admin().await.execute(sqlx::AssertSqlSafe(sql.to_string())).await.unwrap() });
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let name = &self.name;
        block_on(async {
            let mut admin = admin().await;
            // Objects it owns in test databases go with those databases; privileges granted on them must go first.
            let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP OWNED BY \"{name}\""))).await;
            let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS \"{name}\""))).await;
        });
    }
}

/// Stops a local cluster a test created through the binary's embedded default.
pub struct ClusterGuard(pub PathBuf);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if let Ok(cluster) = LocalCluster::new(&self.0, None) {
            let _ = cluster.stop();
        }
    }
}

/// The servers of an installation whose control plane `pool` reaches: what tenant operations take.
pub fn servers(pool: &sqlx::PgPool) -> botctl::db::servers::Servers {
    botctl::db::servers::Servers::from_pool(pool.clone())
}

/// Another throwaway PostgreSQL cluster, number `i` (each started once per test process, stopped and
/// deleted at exit like the first), as an admin URL to its `botctl` database: a second server for
/// tenants. A test that stops its cluster uses a number of its own.
pub fn extra_server(i: usize) -> &'static url::Url {
    &extra_cluster(i).1
}

/// The same cluster, to stop it or find its shared socket directory.
pub fn extra_cluster(i: usize) -> &'static (LocalCluster, url::Url) {
    static EXTRA: OnceLock<std::sync::Mutex<std::collections::HashMap<usize, &'static (LocalCluster, url::Url)>>> =
        OnceLock::new();
    let mut started = EXTRA.get_or_init(Default::default).lock().unwrap();
    if started.is_empty() {
        // SAFETY: as for the first cluster: a plain extern "C" function over set-once statics.
        unsafe { nix::libc::atexit(stop_extra) };
    }
    started.entry(i).or_insert_with(|| {
        let cluster = start_cluster(&format!("botctl-test-pg{i}-"));
        let url = url::Url::parse(&cluster.url()).unwrap();
        let leaked: &'static (LocalCluster, url::Url) = Box::leak(Box::new((cluster.clone(), url)));
        EXTRAS.lock().unwrap().push(cluster);
        leaked
    })
}

static EXTRAS: std::sync::Mutex<Vec<LocalCluster>> = std::sync::Mutex::new(Vec::new());

extern "C" fn stop_extra() {
    if let Ok(clusters) = EXTRAS.lock() {
        for cluster in clusters.iter() {
            let _ = cluster.stop();
            if let Some(dir) = cluster.pgdata().parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A database of its own for one test on extra cluster `i`; dropped at the end with the tenant roles
/// whose schemas are in it (roles belong to the whole cluster).
pub struct ExtraDb {
    pub cluster: usize,
    pub name: String,
}

impl ExtraDb {
    pub fn new(cluster: usize) -> Self {
        let name = unique_name("botctl_extra");
        block_on(async {
            let mut admin = PgConnection::connect(extra_server(cluster).as_str()).await.unwrap();
            admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.unwrap();
        });
        Self { cluster, name }
    }

    /// The admin's URL for this database.
    pub fn url(&self) -> String {
        let mut url = extra_server(self.cluster).clone();
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }

    pub fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        block_on(async {
            let mut conn = PgConnection::connect(&self.url()).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut conn).await.unwrap()
        })
    }

    pub fn role_exists(&self, slug: &str) -> bool {
        self.scalar(&format!("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenant_{slug}')"))
    }

    pub fn schema_exists(&self, slug: &str) -> bool {
        self.scalar(&format!("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_{slug}')"))
    }
}

impl Drop for ExtraDb {
    fn drop(&mut self) {
        let url = self.url();
        let name = self.name.clone();
        let admin_url = extra_server(self.cluster).to_string();
        block_on(async {
            let roles: Vec<String> = match PgConnection::connect(&url).await {
                Ok(mut conn) => sqlx::query_scalar(
                    "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' \
                     UNION SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'tenant\\_t' || $1 || '\\_%'",
                )
                .bind(std::process::id().to_string())
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            // The cluster may have been stopped by the test: then there is nothing to drop.
            let Ok(mut admin) = PgConnection::connect(&admin_url).await else { return };
            let _ =
                admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).await;
            for role in roles {
                let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS \"{role}\""))).await;
            }
        });
    }
}
