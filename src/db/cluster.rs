//! botctl's own PostgreSQL cluster: the embedded default when no database URL is configured, and the
//! throwaway server of the test suite.
//!
//! The cluster lives in `<data dir>/postgres`, listens on Unix sockets only — one inside that directory,
//! one in `<data dir>/socket`, which holds nothing else and so can be mounted into tenant containers —
//! and is created and started on demand with the installed server binaries. The operator connects
//! as the superuser `botctl` through peer authentication (only the OS user who owns the cluster); every
//! other role must use a password. Run as root, the server runs as an unprivileged user, since
//! PostgreSQL refuses to run as root. Its connection budget and memory are sized for the machine
//! ([`sizing`]) in a file of botctl's own that `postgresql.conf` includes.

pub mod sizing;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Uid, User};
use sqlx::postgres::PgConnectOptions;

use crate::progress::Progress;
use sizing::{Host, Sizing};

/// The superuser and the operator's database inside the local cluster.
pub const SUPERUSER: &str = "botctl";
const DATABASE: &str = "botctl";
const PORT: u16 = 5432;
/// The server binaries botctl drives; all must sit in one directory.
const BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// botctl's settings for the machine, rewritten before every start; `postgresql.conf` includes it and
/// `postgresql.auto.conf` (ALTER SYSTEM), which PostgreSQL reads last, overrides it.
pub const SIZING_FILE: &str = "postgresql.botctl.conf";
const INCLUDE_SIZING: &str = "include_if_exists = 'postgresql.botctl.conf'";
/// Unix socket paths are limited to 107 bytes by `sockaddr_un`.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in {searched}\n\
         fix: install the PostgreSQL server (Debian: apt-get install postgresql), set database.postgres_bin_dir \
         to their directory, or point --database-url at an existing server"
    )]
    NoBinaries { searched: String },
    #[error("database.postgres_bin_dir `{}` does not contain {missing}", dir.display())]
    IncompleteBinDir { dir: PathBuf, missing: &'static str },
    #[error(
        "the local PostgreSQL server runs as user `{user}`, which cannot enter `{}`\n\
         fix: choose a data directory it can reach with --data-dir (e.g. /var/lib/botctl)",
        dir.display()
    )]
    Unreachable { user: String, dir: PathBuf },
    #[error(
        "the socket path `{}` is longer than the {MAX_SOCKET_PATH} bytes a Unix socket allows\n\
         fix: choose a shorter --data-dir",
        path.display()
    )]
    SocketPathTooLong { path: PathBuf },
    #[error("`{}` exists but is not a PostgreSQL cluster; botctl will not touch it (move it away or choose another --data-dir)", dir.display())]
    NotACluster { dir: PathBuf },
    #[error("the data directory `{}` has a comma in its path, which PostgreSQL's list of socket directories cannot hold; choose another --data-dir", dir.display())]
    CommaInPath { dir: PathBuf },
    #[error("no unprivileged user to run PostgreSQL as: neither `postgres` nor `nobody` exists")]
    NoServerUser,
    #[error("{action} failed{}", if output.is_empty() { String::new() } else { format!(":\n{output}") })]
    Command { action: String, output: String },
    #[error("{action}")]
    Io { action: String, source: std::io::Error },
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let action = action.into();
    move |source| ClusterError::Io { action, source }
}

/// A local cluster under a data directory; nothing is touched until [`LocalCluster::ensure_running`].
#[derive(Debug, Clone)]
pub struct LocalCluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// The OS user the server runs as; `None` when botctl itself is not root.
    server_user: Option<User>,
}

/// What [`LocalCluster::ensure_running`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    AlreadyRunning,
    Started,
    CreatedAndStarted,
}

impl LocalCluster {
    /// Finds the server binaries (the given directory, PATH, then the distributions' library directories).
    pub fn new(data_dir: &Path, bin_dir: Option<&Path>) -> Result<Self, ClusterError> {
        let bin_dir = match bin_dir {
            Some(dir) => {
                if let Some(missing) = BINARIES.into_iter().find(|b| !dir.join(b).is_file()) {
                    return Err(ClusterError::IncompleteBinDir { dir: dir.to_path_buf(), missing });
                }
                dir.to_path_buf()
            }
            None => find_bin_dir()?,
        };
        let server_user = if Uid::effective().is_root() { Some(server_user()?) } else { None };
        Ok(Self { data_dir: data_dir.to_path_buf(), bin_dir, server_user })
    }

    /// The cluster's directory (PGDATA), which also holds its socket.
    pub fn pgdata(&self) -> PathBuf {
        self.data_dir.join("postgres")
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The directory of the second socket, for tenant containers: PGDATA (0700, the data itself) is never
    /// mounted into one. Anyone who reaches it still needs a role's password.
    pub fn shared_socket_dir(&self) -> PathBuf {
        self.data_dir.join("socket")
    }

    /// How the operator connects: the socket, as the superuser, to the `botctl` database.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new().socket(self.pgdata()).port(PORT).username(SUPERUSER).database(DATABASE)
    }

    /// A `postgres://` URL for the same connection, for child processes and tests.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@localhost/{DATABASE}?host={}&port={PORT}", self.pgdata().display())
    }

    /// Creates the cluster if it does not exist and starts it if it is not running. Safe to call from
    /// several processes at once: a lock file serializes them.
    pub async fn ensure_running(&self, progress: &dyn Progress) -> Result<Started, ClusterError> {
        let this = self.clone();
        let outcome = tokio::task::spawn_blocking(move || this.ensure_running_blocking());
        progress.set_message("starting the local PostgreSQL cluster");
        let started = outcome
            .await
            .map_err(|e| ClusterError::Io { action: "starting PostgreSQL".into(), source: e.into() })??;
        if started != Started::AlreadyRunning {
            self.create_database().await?;
        }
        Ok(started)
    }

    fn ensure_running_blocking(&self) -> Result<Started, ClusterError> {
        self.prepare_data_dir()?;
        let lock_path = self.data_dir.join("postgres.lock");
        let lock_file = File::create(&lock_path).map_err(io(format!("creating {}", lock_path.display())))?;
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, errno)| ClusterError::Io {
            action: format!("locking {}", lock_path.display()),
            source: errno.into(),
        })?;

        let created = if self.pgdata().join("PG_VERSION").is_file() {
            false
        } else {
            tracing::info!(pgdata = %self.pgdata().display(), bin_dir = %self.bin_dir.display(), "creating the local PostgreSQL cluster");
            self.create()?;
            true
        };
        // Written even while the server runs, so that `doctor` can tell what its next start will use.
        self.write_sizing()?;
        if self.is_running()? {
            return Ok(Started::AlreadyRunning);
        }
        self.share_socket()?;
        tracing::info!(pgdata = %self.pgdata().display(), "starting the local PostgreSQL cluster");
        self.start()?;
        Ok(if created { Started::CreatedAndStarted } else { Started::Started })
    }

    /// Whether the server is up, by `pg_ctl status` (which also sees through a stale pid file).
    pub fn is_running_now(&self) -> Result<bool, ClusterError> {
        if !self.pgdata().join("PG_VERSION").is_file() {
            return Ok(false);
        }
        self.is_running()
    }

    fn is_running(&self) -> Result<bool, ClusterError> {
        let output = self.run_raw("pg_ctl", |c| c.arg("status").arg("-D").arg(self.pgdata()))?;
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        match output.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(command_failed("checking the local PostgreSQL cluster", &output)),
        }
    }

    /// Stops the server (fast shutdown: open sessions are ended). A stopped cluster is left as is.
    pub fn stop(&self) -> Result<(), ClusterError> {
        if !self.is_running_now()? {
            return Ok(());
        }
        let output = self.run_raw("pg_ctl", |c| c.args(["stop", "-m", "fast", "-w", "-D"]).arg(self.pgdata()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(command_failed("stopping the local PostgreSQL cluster", &output))
        }
    }

    /// The data directory must exist and, when the server runs as another user, be reachable by it.
    fn prepare_data_dir(&self) -> Result<(), ClusterError> {
        let socket = self.pgdata().join(format!(".s.PGSQL.{PORT}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ClusterError::SocketPathTooLong { path: socket });
        }
        if self.data_dir.to_string_lossy().contains(',') {
            return Err(ClusterError::CommaInPath { dir: self.data_dir.clone() });
        }
        fs::create_dir_all(&self.data_dir).map_err(io(format!("creating {}", self.data_dir.display())))?;
        let Some(user) = &self.server_user else { return Ok(()) };
        // Search permission only: the server may pass through, not list the operator's files.
        let meta = fs::metadata(&self.data_dir).map_err(io(format!("reading {}", self.data_dir.display())))?;
        let mut perms = meta.permissions();
        if perms.mode() & 0o001 == 0 {
            perms.set_mode(perms.mode() | 0o011);
            fs::set_permissions(&self.data_dir, perms)
                .map_err(io(format!("setting permissions on {}", self.data_dir.display())))?;
        }
        let data_dir =
            fs::canonicalize(&self.data_dir).map_err(io(format!("resolving {}", self.data_dir.display())))?;
        for dir in data_dir.ancestors().skip(1) {
            let mode = fs::metadata(dir).map_err(io(format!("reading {}", dir.display())))?.permissions().mode();
            if mode & 0o001 == 0 {
                return Err(ClusterError::Unreachable { user: user.name.clone(), dir: dir.to_path_buf() });
            }
        }
        Ok(())
    }

    /// initdb into a temporary directory, configure, then rename: a half-made cluster never has the real name.
    fn create(&self) -> Result<(), ClusterError> {
        let pgdata = self.pgdata();
        if pgdata.exists() {
            let empty = fs::read_dir(&pgdata).map_err(io(format!("reading {}", pgdata.display())))?.next().is_none();
            if !empty {
                return Err(ClusterError::NotACluster { dir: pgdata });
            }
            fs::remove_dir(&pgdata).map_err(io(format!("removing empty {}", pgdata.display())))?;
        }
        let staging = self.data_dir.join("postgres.initdb");
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io(format!("removing the unfinished {}", staging.display())))?;
        }
        fs::create_dir(&staging).map_err(io(format!("creating {}", staging.display())))?;
        self.hand_over(&staging, 0o700)?;
        self.run("initializing the local PostgreSQL cluster (initdb)", "initdb", |c| {
            c.arg("-D").arg(&staging).args([
                "-U",
                SUPERUSER,
                "--no-locale",
                "-E",
                "UTF8",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ])
        })?;
        self.configure(&staging, &pgdata)?;
        fs::rename(&staging, &pgdata).map_err(io(format!("moving the new cluster to {}", pgdata.display())))
    }

    /// Socket-only listening, and who may log in how. Files are rewritten in place so they keep the
    /// server user's ownership.
    fn configure(&self, staging: &Path, pgdata: &Path) -> Result<(), ClusterError> {
        let os_user = User::from_uid(Uid::effective()).ok().flatten().map(|u| u.name).unwrap_or_else(|| "root".into());
        append(
            &staging.join("postgresql.conf"),
            &format!(
                "\n# Added by botctl: a private cluster reachable only through its sockets.\n\
                 listen_addresses = ''\n{}\nport = {PORT}\n",
                self.socket_setting(pgdata)
            ),
        )?;
        rewrite(
            &staging.join("pg_hba.conf"),
            &format!(
                "# Written by botctl.\n\
                 # The OS user who owns this cluster is the superuser `{SUPERUSER}`; every other role needs its password.\n\
                 # TYPE  DATABASE  USER       METHOD\n\
                 local   all       {SUPERUSER}     peer map=operator\n\
                 local   all       all        scram-sha-256\n"
            ),
        )?;
        rewrite(
            &staging.join("pg_ident.conf"),
            &format!("# Written by botctl.\n# MAP     OS-USER  PG-USER\noperator  {os_user}  {SUPERUSER}\n"),
        )
    }

    /// Both socket directories, as `postgresql.conf` says it (the list is comma-separated, so neither
    /// path may hold a comma; `prepare_data_dir` refuses one).
    fn socket_setting(&self, pgdata: &Path) -> String {
        let quoted = |p: &Path| p.display().to_string().replace('\'', "''");
        format!("unix_socket_directories = '{}, {}'", quoted(pgdata), quoted(&self.shared_socket_dir()))
    }

    /// Makes the shared socket directory (the server writes its socket there; anyone may reach it) and,
    /// for a cluster made before it existed, adds it to the configuration.
    fn share_socket(&self) -> Result<(), ClusterError> {
        let dir = self.shared_socket_dir();
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        self.hand_over(&dir, 0o755)?;
        let conf = self.pgdata().join("postgresql.conf");
        let setting = self.socket_setting(&self.pgdata());
        let text = fs::read_to_string(&conf).map_err(io(format!("reading {}", conf.display())))?;
        if !text.contains(&setting) {
            // A later line wins in postgresql.conf.
            append(&conf, &format!("\n# Added by botctl: a second socket, for tenant containers.\n{setting}\n"))?;
        }
        Ok(())
    }

    /// Writes the settings sized for this machine, and makes `postgresql.conf` of a cluster made by an
    /// earlier botctl include them. They take effect when the server next starts: a running one is left
    /// alone, since `max_connections` and `shared_buffers` need a restart.
    fn write_sizing(&self) -> Result<(), ClusterError> {
        let pgdata = self.pgdata();
        let conf = pgdata.join("postgresql.conf");
        let text = fs::read_to_string(&conf).map_err(io(format!("reading {}", conf.display())))?;
        if !text.lines().any(|line| line.trim() == INCLUDE_SIZING) {
            // After initdb's own max_connections and shared_buffers, which a later line overrides.
            append(
                &conf,
                &format!(
                    "\n# Added by botctl: settings sized for this machine (ALTER SYSTEM still wins).\n{INCLUDE_SIZING}\n"
                ),
            )?;
        }
        let Some(host) = Host::this_machine() else {
            tracing::warn!("cannot read this machine's memory and CPUs; the local cluster keeps its settings");
            return Ok(());
        };
        let sizing = Sizing::for_host(host);
        let path = pgdata.join(SIZING_FILE);
        let wanted = sizing.conf();
        if fs::read_to_string(&path).is_ok_and(|current| current == wanted) {
            return Ok(());
        }
        tracing::debug!(?sizing, "sizing the local PostgreSQL cluster");
        // Written aside and renamed: the server never reads half a file.
        let staging = pgdata.join(format!("{SIZING_FILE}.new"));
        fs::write(&staging, wanted).map_err(io(format!("writing {}", staging.display())))?;
        fs::set_permissions(&staging, fs::Permissions::from_mode(0o600))
            .map_err(io(format!("setting permissions on {}", staging.display())))?;
        if let Some(user) = &self.server_user {
            chown(&staging, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(io(format!(
                "handing {} to {}",
                staging.display(),
                user.name
            )))?;
        }
        fs::rename(&staging, &path).map_err(io(format!("writing {}", path.display())))
    }

    /// Gives a directory the server writes in this mode and, when the server runs as another user, to
    /// that user.
    fn hand_over(&self, dir: &Path, mode: u32) -> Result<(), ClusterError> {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(io(format!("setting permissions on {}", dir.display())))?;
        if let Some(user) = &self.server_user {
            chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(io(format!(
                "handing {} to {}",
                dir.display(),
                user.name
            )))?;
        }
        Ok(())
    }

    fn start(&self) -> Result<(), ClusterError> {
        let log = self.pgdata().join("server.log");
        let output = self.run_raw("pg_ctl", |c| {
            c.args(["start", "-w", "-t", "60", "-s", "-D"]).arg(self.pgdata()).arg("-l").arg(&log)
        })?;
        if output.status.success() {
            return Ok(());
        }
        let tail = fs::read_to_string(&log).map(|t| last_lines(&t, 15)).unwrap_or_default();
        let mut err = command_failed("starting the local PostgreSQL cluster", &output);
        if let ClusterError::Command { output, .. } = &mut err {
            output.push_str(&format!("\nlast lines of {}:\n{tail}", log.display()));
        }
        Err(err)
    }

    /// The operator's database; `template1` is where we connect to make it.
    async fn create_database(&self) -> Result<(), ClusterError> {
        use sqlx::Connection;
        let options = self.connect_options().database("postgres");
        let mut conn =
            sqlx::PgConnection::connect_with(&options).await.map_err(sql_error("connecting to the local cluster"))?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut conn)
            .await
            .map_err(sql_error("looking up the botctl database"))?;
        if !exists {
            // A constant identifier, so splicing it is safe.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{DATABASE}\"")))
                .execute(&mut conn)
                .await
                .map_err(sql_error("creating the botctl database"))?;
        }
        Ok(())
    }

    fn run(
        &self,
        action: &str,
        program: &str,
        args: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Result<(), ClusterError> {
        let output = self.run_raw(program, args)?;
        if output.status.success() { Ok(()) } else { Err(command_failed(action, &output)) }
    }

    fn run_raw(&self, program: &str, args: impl FnOnce(&mut Command) -> &mut Command) -> Result<Output, ClusterError> {
        let mut command = Command::new(self.bin_dir.join(program));
        args(&mut command);
        // Its own process group: Ctrl-C at botctl's terminal must not reach the server it leaves running.
        command.process_group(0).current_dir(&self.data_dir);
        if let Some(user) = &self.server_user {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        command.output().map_err(io(format!("running {}", self.bin_dir.join(program).display())))
    }
}

fn sql_error(action: &'static str) -> impl FnOnce(sqlx::Error) -> ClusterError {
    move |e| ClusterError::Command { action: action.to_string(), output: e.to_string() }
}

fn command_failed(action: &str, output: &Output) -> ClusterError {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    ClusterError::Command { action: action.to_string(), output: last_lines(text.trim(), 20) }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn append(path: &Path, text: &str) -> Result<(), ClusterError> {
    let mut file = OpenOptions::new().append(true).open(path).map_err(io(format!("opening {}", path.display())))?;
    file.write_all(text.as_bytes()).map_err(io(format!("writing {}", path.display())))
}

fn rewrite(path: &Path, text: &str) -> Result<(), ClusterError> {
    let mut file =
        OpenOptions::new().write(true).truncate(true).open(path).map_err(io(format!("opening {}", path.display())))?;
    file.write_all(text.as_bytes()).map_err(io(format!("writing {}", path.display())))
}

/// PostgreSQL refuses to run as root; `postgres` is the distributions' account for it.
fn server_user() -> Result<User, ClusterError> {
    ["postgres", "nobody"]
        .into_iter()
        .find_map(|name| User::from_name(name).ok().flatten())
        .ok_or(ClusterError::NoServerUser)
}

/// Where distributions install the server binaries when they keep them off PATH (newest version first).
fn library_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for (parent, prefix, suffix) in [("/usr/lib/postgresql", "", "bin"), ("/usr", "pgsql-", "bin")] {
        let Ok(entries) = fs::read_dir(parent) else { continue };
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let version = name.strip_prefix(prefix)?.split('.').next()?.parse().ok()?;
                Some((version, e.path().join(suffix)))
            })
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    }
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs
}

fn find_bin_dir() -> Result<PathBuf, ClusterError> {
    let complete = |dir: &Path| BINARIES.iter().all(|b| dir.join(b).is_file());
    if let Some(dir) = which::which("initdb").ok().and_then(|p| p.parent().map(Path::to_path_buf))
        && complete(&dir)
    {
        return Ok(dir);
    }
    let candidates = library_dirs();
    candidates.iter().find(|d| complete(d)).cloned().ok_or_else(|| ClusterError::NoBinaries {
        searched: "/usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, /usr/local/pgsql/bin".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_bin_dir_names_the_missing_binary() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("initdb"), "").unwrap();
        let err = LocalCluster::new(dir.path(), Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("does not contain pg_ctl"), "{err}");
    }

    #[test]
    fn overlong_socket_paths_are_refused_before_anything_is_created() {
        let base = tempfile::tempdir().unwrap();
        let deep = base.path().join("d".repeat(100));
        let cluster = LocalCluster { data_dir: deep, bin_dir: PathBuf::from("/nonexistent"), server_user: None };
        let err = cluster.prepare_data_dir().unwrap_err();
        assert!(matches!(err, ClusterError::SocketPathTooLong { .. }), "{err}");
    }

    #[test]
    fn a_comma_in_the_data_dir_is_refused_before_anything_is_created() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a,b");
        let cluster = LocalCluster { data_dir: dir.clone(), bin_dir: PathBuf::from("/nonexistent"), server_user: None };
        let err = cluster.prepare_data_dir().unwrap_err();
        assert!(matches!(err, ClusterError::CommaInPath { .. }), "{err}");
        assert!(!dir.exists());
    }

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}
