//! Scale benchmark (issue 19): N tenants (10,000 by default) across several local PostgreSQL servers, made
//! and served by the library's real operations — placement, `tenant create`, `migrate --all`,
//! `backup --all` — with botctl's Bot API emulator answering `getMe`.
//! - tenant create, DB side (everything after `getMe`), p50/p95/max of the first and last 1,000 made on
//!   each server, so growth with the catalog shows;
//! - `migrate --all` with nothing to do, and with one migration to apply everywhere, across all servers
//!   and server by server;
//! - `backup --all` to a temporary directory, across all servers and server by server;
//! - each server's catalog (pg_class rows, pg_catalog's size, the database's size);
//! - with `--single-server-up-to N`, one server filled in steps (`--step`, 1,000) with every figure at
//!   each step: what one server holds before it slows.
//!
//! Run: `cargo bench --bench scale` (10,000 tenants, 4 servers), `cargo bench --bench scale -- --tenants 400`,
//! `cargo bench --bench scale -- --single-server-up-to 10000`. The clusters live in a temporary directory
//! and are stopped and removed at the end, on a panic and on Ctrl-C. Results: docs/BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;
#[path = "scale/moving.rs"]
mod moving;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botctl::backup::Keep;
use botctl::config::template::Locale;
use botctl::db::cluster::LocalCluster;
use botctl::db::servers::Servers;
use botctl::progress::{NoProgress, Progress};
use botctl::telegram::emulator::Emulator;
use botctl::tenant::TenantSlug;
use botctl::tenant::backup::{self, BackupOptions};
use botctl::tenant::ops::{self, MigrateOptions, Targets};
use botctl::tenant::servers::AddOptions;
use clap::Parser;
use futures_util::StreamExt;
use sqlx::PgPool;

use common::barbershop;

const BOT_ID_BASE: i64 = 720_000_000;
const ACTOR: &str = "bench";
/// Tenants made one at a time on each server after the rest, for the create's DB side with nothing else
/// running (the rest are made `--jobs` at a time, on 2 cores, so each waits for the others too).
const QUIET: usize = 20;
/// Runs of `migrate --all` with nothing to do; the median is reported.
const IDLE_MIGRATE_RUNS: usize = 3;

/// Settings every server gets, as an operator of many tenant schemas would set them (docs/BENCHMARKS.md
/// says why): a `pg_dump` of a whole server, a `VACUUM` of its database or any tool that opens every
/// tenant's tables in one transaction holds a lock per relation, and a tenant brings ~45 of them, so the
/// shared lock table (this × max_connections) must hold a full server's relations.
const SERVER_SETTINGS: &[(&str, &str)] = &[("max_locks_per_transaction", "1024")];

#[derive(Parser)]
#[command(about = "botctl at scale: tenants across several local PostgreSQL servers")]
struct Args {
    /// Tenants in all.
    #[arg(long, default_value_t = 10_000)]
    tenants: usize,
    /// PostgreSQL servers: `main` and the others added as `server add` does.
    #[arg(long, default_value_t = 4)]
    servers: usize,
    /// Creates at once, and fleet jobs at once on each server (`--jobs` of `migrate` and `backup`).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Instead: fill ONE server up to this many tenants, measuring at every `--step`.
    #[arg(long)]
    single_server_up_to: Option<usize>,
    #[arg(long, default_value_t = 1_000)]
    step: usize,
    /// Skip the server-by-server `migrate` and `backup` runs (the fleet-wide ones still run).
    #[arg(long)]
    no_per_server: bool,
    /// Only the `tenant move` figure: the servers and its one tenant, no fleet.
    #[arg(long)]
    move_only: bool,
    /// What `cargo bench` passes to every benchmark.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::Builder::new().prefix("botctl-scale").tempdir().unwrap().keep();
    let guard = Guard::new(root.clone());
    runtime.spawn(guard.on_signal());
    let servers = if args.single_server_up_to.is_some() { 1 } else { args.servers.max(1) };
    let capacity = match args.single_server_up_to {
        Some(up_to) => up_to,
        None => args.tenants.div_ceil(servers),
    };
    let fleet = runtime.block_on(Fleet::start(&root, servers, capacity, &guard, args.jobs));
    eprintln!("{servers} servers up in {:.1} s", started.elapsed().as_secs_f64());
    machine(&runtime, &fleet);
    match args.single_server_up_to {
        _ if args.move_only => runtime.block_on(moving::measure(&fleet)),
        Some(up_to) => runtime.block_on(single_server(&fleet, up_to, args.step.max(1), args.jobs)),
        None => runtime.block_on(spread(&fleet, args.tenants, args.jobs, !args.no_per_server)),
    }
    runtime.block_on(fleet.close());
    drop(guard);
    println!("\nThe benchmark took {:.1} min.", started.elapsed().as_secs_f64() / 60.0);
}

/// The benchmark's directory and the clusters in it, until cleaned.
type Owned = Option<(PathBuf, Vec<LocalCluster>)>;

/// Stops the benchmark's clusters and removes their directory when dropped (the end, or a panic
/// unwinding) and on Ctrl-C or SIGTERM. It touches nothing it did not make.
struct Guard(Arc<Mutex<Owned>>);

impl Guard {
    fn new(root: PathBuf) -> Self {
        Self(Arc::new(Mutex::new(Some((root, Vec::new())))))
    }

    fn add(&self, cluster: &LocalCluster) {
        if let Some((_, clusters)) = self.0.lock().unwrap().as_mut() {
            clusters.push(cluster.clone());
        }
    }

    fn on_signal(&self) -> impl std::future::Future<Output = ()> + use<> {
        let state = Arc::clone(&self.0);
        async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("interrupted: stopping the benchmark's clusters");
            clean(&state);
            std::process::exit(130);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        clean(&self.0);
    }
}

/// Holds the lock until done, so that a signal during the end's cleaning waits for it before exiting.
fn clean(state: &Mutex<Owned>) {
    let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((root, clusters)) = state.take() {
        for cluster in clusters {
            if let Err(e) = cluster.stop() {
                eprintln!("stopping {}: {e}", cluster.pgdata().display());
            }
        }
        let _ = std::fs::remove_dir_all(root);
    }
}

/// One of the benchmark's servers: its cluster and an administrator's pool.
struct Server {
    name: String,
    pool: PgPool,
}

struct Fleet {
    /// What botctl's commands are given: the control plane's pool, and a pool per server opened on use.
    routes: Servers,
    /// `main` first: it holds the control plane.
    servers: Vec<Server>,
    emulator: Emulator,
    backups: PathBuf,
}

impl Fleet {
    async fn start(root: &Path, count: usize, capacity: usize, guard: &Guard, jobs: usize) -> Self {
        let mut servers = Vec::new();
        let mut clusters = Vec::new();
        let capacity = u32::try_from(capacity).unwrap();
        for i in 1..=count {
            let name = if i == 1 { "main".to_string() } else { format!("pg{i}") };
            let cluster = LocalCluster::new(&root.join(&name), None).expect("PostgreSQL server binaries are installed");
            guard.add(&cluster);
            cluster.ensure_running(&NoProgress).await.unwrap();
            configure(&cluster).await;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(u32::try_from(jobs).unwrap() + 2)
                .connect_with(cluster.connect_options())
                .await
                .unwrap();
            servers.push(Server { name, pool });
            clusters.push(cluster);
        }
        botctl::db::control::init(&servers[0].pool).await.unwrap();
        let routes = Servers::from_pool(servers[0].pool.clone());
        // As `botctl server add main --capacity N` and `botctl server add pgI --url URL --capacity N`.
        for (server, cluster) in servers.iter().zip(&clusters) {
            let url = (server.name != "main").then(|| cluster.url().parse().unwrap());
            let options =
                AddOptions { name: server.name.parse().unwrap(), url, capacity: Some(capacity), container_host: None };
            botctl::tenant::servers::add(&routes, &options, ACTOR).await.unwrap();
        }
        let emulator = Emulator::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let backups = root.join("backups");
        Self { routes, servers, emulator, backups }
    }

    fn control(&self) -> &PgPool {
        self.routes.control()
    }

    async fn close(&self) {
        for server in &self.servers {
            server.pool.close().await;
        }
    }
}

/// The operator's settings ([`SERVER_SETTINGS`]), then a restart for them to take effect.
async fn configure(cluster: &LocalCluster) {
    let pool = PgPool::connect_with(cluster.connect_options()).await.unwrap();
    for (name, value) in SERVER_SETTINGS {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER SYSTEM SET {name} = '{value}'")))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    cluster.stop().unwrap();
    cluster.ensure_running(&NoProgress).await.unwrap();
}

/// The machine and the servers' settings, for the record.
fn machine(runtime: &tokio::runtime::Runtime, fleet: &Fleet) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse().ok())
        })
        .map_or(0.0, |kib: f64| kib / 1024.0 / 1024.0);
    let settings: Vec<String> = runtime.block_on(async {
        let mut shown = Vec::new();
        for name in ["server_version", "max_connections", "max_locks_per_transaction", "shared_buffers", "fsync"] {
            let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {name}")))
                .fetch_one(fleet.control())
                .await
                .unwrap();
            shown.push(format!("{name} = {value}"));
        }
        shown
    });
    println!("Machine: {cpus} CPUs, {memory:.1} GiB. Each server: {}.", settings.join(", "));
}

/// Records when a create's `getMe` ended: the message after the one naming `getMe`.
#[derive(Default)]
struct Stopwatch {
    asked_telegram: std::sync::atomic::AtomicBool,
    db_started: Mutex<Option<Instant>>,
}

impl Progress for Stopwatch {
    fn set_message(&self, message: &str) {
        use std::sync::atomic::Ordering;
        if message.contains("getMe") {
            self.asked_telegram.store(true, Ordering::SeqCst);
        } else if self.asked_telegram.load(Ordering::SeqCst) {
            self.db_started.lock().unwrap().get_or_insert_with(Instant::now);
        }
    }
}

/// One tenant made: where, and how long its DB side took.
struct Made {
    server: String,
    db: Duration,
}

/// Creates tenants `from..to` (numbered), `jobs` at a time, through the real create and placement; the
/// result in the order they finished.
async fn create(fleet: &Fleet, from: usize, to: usize, jobs: usize) -> Vec<Made> {
    create_on(fleet, from, to, None, jobs).await
}

/// [`create`] on `server` (as `tenant create --server`), or where placement puts each.
async fn create_on(fleet: &Fleet, from: usize, to: usize, server: Option<&str>, jobs: usize) -> Vec<Made> {
    let api = fleet.emulator.url();
    let started = Instant::now();
    let made: Vec<Made> = futures_util::stream::iter(from..to)
        .map(|n| {
            let id = BOT_ID_BASE + i64::try_from(n).unwrap();
            let token = format!("{id}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ");
            fleet.emulator.add_bot(&token, id, &format!("scale_{n}_bot"));
            let mut options = barbershop(&format!("t{n}"), &token, Locale::Ru, api.clone());
            options.server = server.map(|s| s.parse().unwrap());
            async move {
                let watch = Stopwatch::default();
                let tenant = ops::create(&fleet.routes, &options, ACTOR, &watch).await.unwrap();
                let ended = Instant::now();
                let db_started = watch.db_started.lock().unwrap().expect("create reported its DB step");
                Made { server: tenant.server, db: ended - db_started }
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    eprintln!("created {} tenants in {:.1} s (load {})", to - from, started.elapsed().as_secs_f64(), load());
    made
}

/// The live tenants on `server`.
async fn tenants_on(fleet: &Fleet, server: &str) -> Vec<TenantSlug> {
    let slugs: Vec<String> =
        sqlx::query_scalar("SELECT slug FROM botctl.tenants WHERE server = $1 AND deleted_at IS NULL ORDER BY slug")
            .bind(server)
            .fetch_all(fleet.control())
            .await
            .unwrap();
    slugs.iter().map(|s| s.parse().unwrap()).collect()
}

/// Undoes the measured migration on every tenant of `servers` (their own connections, `jobs` at a time)
/// and tells the control plane so: `migrate` then has exactly one migration to apply to each.
async fn roll_back(fleet: &Fleet, servers: &[&Server], jobs: usize) {
    for server in servers {
        let slugs = tenants_on(fleet, &server.name).await;
        futures_util::stream::iter(&slugs)
            .map(|slug| async move { common::undo_measured_migration(&server.pool, &slug.schema()).await })
            .buffer_unordered(jobs)
            .collect::<Vec<_>>()
            .await;
        sqlx::query("UPDATE botctl.tenants SET schema_version = $1 WHERE server = $2 AND deleted_at IS NULL")
            .bind(botctl::db::migrate::tenant_latest() - 1)
            .bind(&server.name)
            .execute(fleet.control())
            .await
            .unwrap();
    }
}

async fn migrate(fleet: &Fleet, targets: Targets, jobs: usize) -> (Duration, usize) {
    let started = Instant::now();
    let report = ops::migrate(&fleet.routes, &MigrateOptions { targets, dry_run: false, jobs }, ACTOR, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.failed(), 0, "migrate failed: {:?}", report.tenants.iter().find(|t| t.error.is_some()));
    (started.elapsed(), report.tenants.len())
}

/// `backup --all` (or of `targets`) into a fresh directory, removed afterwards; its time and bytes.
async fn back_up(fleet: &Fleet, targets: Targets, jobs: usize) -> (Duration, usize, u64) {
    let _ = std::fs::remove_dir_all(&fleet.backups);
    let options = BackupOptions { targets, dest: fleet.backups.clone(), keep: Keep { last: None, within: None }, jobs };
    let started = Instant::now();
    let report = backup::backup(&fleet.routes, &options, ACTOR, &NoProgress).await.unwrap();
    let took = started.elapsed();
    assert_eq!(report.failed(), 0, "backup failed: {:?}", report.tenants.iter().find(|t| t.error.is_some()));
    let bytes = report.tenants.iter().map(|t| t.size_bytes).sum();
    let _ = std::fs::remove_dir_all(&fleet.backups);
    (took, report.tenants.len(), bytes)
}

/// A server's catalog: pg_class rows, pg_attribute rows, pg_catalog's size and the database's, in bytes.
struct Catalog {
    classes: i64,
    /// Ordinary tables: what a whole-database `pg_dump` (and so `pg_upgrade`) locks, one lock each.
    tables: i64,
    attributes: i64,
    catalog_bytes: i64,
    database_bytes: i64,
}

async fn catalog(server: &Server) -> Catalog {
    let (classes, tables, attributes, catalog_bytes, database_bytes): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_class WHERE relkind = 'r'), \
         (SELECT count(*) FROM pg_attribute), \
         (SELECT sum(pg_total_relation_size(oid))::bigint FROM pg_class \
          WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind IN ('r', 'm', 't')), \
         pg_database_size(current_database())",
    )
    .fetch_one(&server.pool)
    .await
    .unwrap();
    Catalog { classes, tables, attributes, catalog_bytes, database_bytes }
}

/// How long `settle` waits at most.
const SETTLE_AT_MOST: Duration = Duration::from_secs(600);

/// Waits until no server has run an autovacuum worker for two looks in a row (at most
/// `SETTLE_AT_MOST`), then has each server write its dirty pages out (`CHECKPOINT`): thousands of
/// tenants made in minutes leave every server vacuuming its catalog and its checkpointer writing
/// gigabytes for a while after (competing with a commit's WAL flush), which a server that grew to
/// them over months would not be doing when one more tenant is made. Returns how long it waited.
async fn settle(fleet: &Fleet) -> Duration {
    let started = Instant::now();
    let mut calm = 0;
    while calm < 2 && started.elapsed() < SETTLE_AT_MOST {
        let mut vacuuming = 0;
        for server in &fleet.servers {
            let workers: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
                    .fetch_one(&server.pool)
                    .await
                    .unwrap();
            vacuuming += workers;
        }
        calm = if vacuuming == 0 { calm + 1 } else { 0 };
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for server in &fleet.servers {
        sqlx::query("CHECKPOINT").execute(&server.pool).await.unwrap();
    }
    started.elapsed()
}

/// The machine's load average over the last minute: other work shares the 2 cores, and it shows here.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split(' ').next().map(str::to_string))
        .unwrap_or_default()
}

/// p50 / p95 / max of `samples`, in ms (nearest rank).
fn quantiles(samples: &[Duration]) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    format!("{} / {} / {}", ms(at(0.5)), ms(at(0.95)), ms(sorted[sorted.len() - 1]))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 { format!("{ms:.1}") } else { format!("{ms:.0}") }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn mb(bytes: i64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

/// Per tenant, in ms.
fn each_ms(total: Duration, tenants: usize) -> String {
    if tenants == 0 { "-".into() } else { format!("{:.1} ms", total.as_secs_f64() * 1000.0 / tenants as f64) }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The default run: `tenants` across every server, placed by the real placement.
async fn spread(fleet: &Fleet, tenants: usize, jobs: usize, per_server: bool) {
    let quiet_total = QUIET * fleet.servers.len();
    assert!(tenants > 2 * quiet_total, "--tenants must be over {}", 2 * quiet_total);
    let started = Instant::now();
    let made = create(fleet, 0, tenants - quiet_total, jobs).await;
    let create_wall = started.elapsed();
    let settled = settle(fleet).await;
    eprintln!("servers settled in {:.1} s (load {})", settled.as_secs_f64(), load());
    let mut quiet = Vec::new();
    for (i, server) in fleet.servers.iter().enumerate() {
        let from = tenants - quiet_total + i * QUIET;
        quiet.push(create_on(fleet, from, from + QUIET, Some(&server.name), 1).await);
    }
    let window = 1000.min(made.len() / (2 * fleet.servers.len())).max(1);

    println!("\n### Tenant create, DB side (after `getMe`), ms: p50 / p95 / max\n");
    println!(
        "{} tenants made {jobs} at a time by placement in {} ({:.0} a second), then, once no server vacuumed \
         and each had checkpointed (after {:.0} s), {QUIET} on each server one at a time.\n",
        made.len(),
        secs(create_wall),
        made.len() as f64 / create_wall.as_secs_f64(),
        settled.as_secs_f64()
    );
    println!(
        "| server | tenants | first {window}, {jobs} at a time | last {window}, {jobs} at a time | then {QUIET} one at a time |"
    );
    println!("|---|---|---|---|---|");
    let (mut last_of_all, mut quiet_of_all) = (Vec::new(), Vec::new());
    for (server, quiet) in fleet.servers.iter().zip(&quiet) {
        let own: Vec<Duration> = made.iter().filter(|m| m.server == server.name).map(|m| m.db).collect();
        let first = &own[..window.min(own.len())];
        let last = &own[own.len().saturating_sub(window)..];
        last_of_all.extend_from_slice(last);
        let quiet: Vec<Duration> = quiet.iter().map(|m| m.db).collect();
        quiet_of_all.extend_from_slice(&quiet);
        let count = own.len() + quiet.len();
        println!("| {} | {count} | {} | {} | {} |", server.name, quantiles(first), quantiles(last), quantiles(&quiet));
    }
    println!("| all | {tenants} | | {} | {} |", quantiles(&last_of_all), quantiles(&quiet_of_all));

    let idle = {
        let mut runs = Vec::new();
        for _ in 0..IDLE_MIGRATE_RUNS {
            runs.push(migrate(fleet, Targets::All, jobs).await.0);
        }
        median(runs)
    };
    let every: Vec<&Server> = fleet.servers.iter().collect();
    roll_back(fleet, &every, jobs).await;
    let (one_all, migrated) = migrate(fleet, Targets::All, jobs).await;
    assert_eq!(migrated, tenants);
    let (backup_all, backed_up, bytes) = back_up(fleet, Targets::All, jobs).await;
    assert_eq!(backed_up, tenants);

    println!("\n### Fleet operations, all servers (`--jobs {jobs}`)\n");
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!("| the machine's load (1 min) at the end | {} | — |", load());
    println!("| `migrate --all`, nothing to do (median of {IDLE_MIGRATE_RUNS}) | {} | — |", secs(idle));
    println!(
        "| `migrate --all`, one migration to each of {tenants} | {} ({} a tenant) | ≤ 30 s |",
        secs(one_all),
        each_ms(one_all, tenants)
    );
    println!(
        "| `backup --all` of {tenants} | {} ({} a tenant), {:.1} MB of archives | ≤ 5 min |",
        secs(backup_all),
        each_ms(backup_all, tenants),
        bytes as f64 / 1e6
    );

    println!("\n### Each server\n");
    println!(
        "| server | tenants | pg_class rows | pg_attribute rows | pg_catalog size | database size | `migrate`, one migration | `backup` |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for server in &fleet.servers {
        let slugs = tenants_on(fleet, &server.name).await;
        let count = slugs.len();
        let c = catalog(server).await;
        // With --no-per-server the server's own runs are not made: a dash, not a zero.
        let (one, took) = if per_server {
            roll_back(fleet, &[server], jobs).await;
            let (one, _) = migrate(fleet, Targets::Named(slugs.clone()), jobs).await;
            let took = back_up(fleet, Targets::Named(slugs), jobs).await.0;
            (format!("{} ({})", secs(one), each_ms(one, count)), format!("{} ({})", secs(took), each_ms(took, count)))
        } else {
            ("—".to_string(), "—".to_string())
        };
        println!(
            "| {} | {count} | {} ({}) | {} | {} | {} | {one} | {took} |",
            server.name,
            c.classes,
            c.tables,
            c.attributes,
            mb(c.catalog_bytes),
            mb(c.database_bytes),
        );
    }
    moving::measure(fleet).await;
}

/// One server filled in steps up to `up_to`, every figure at each step.
async fn single_server(fleet: &Fleet, up_to: usize, step: usize, jobs: usize) {
    let server = &fleet.servers[0];
    println!("\n### One server, filled in steps of {step} (`--jobs {jobs}`)\n");
    println!(
        "| tenants | create, DB side, the step's, {jobs} at a time: p50 / p95 / max ms | the step's last {QUIET}, one at a time | pg_class rows (tables) | pg_catalog size | database size | `migrate --all`, nothing to do | `migrate --all`, one migration (a tenant) | `backup --all` (a tenant) | load (1 min) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut present = 0;
    while present < up_to {
        let next = (present + step).min(up_to);
        let quiet_from = next - QUIET.min(next - present);
        let made = create(fleet, present, quiet_from, jobs).await;
        settle(fleet).await;
        let quiet = create(fleet, quiet_from, next, 1).await;
        present = next;
        let db: Vec<Duration> = made.iter().map(|m| m.db).collect();
        let quiet: Vec<Duration> = quiet.iter().map(|m| m.db).collect();
        let c = catalog(server).await;
        let (idle, _) = migrate(fleet, Targets::All, jobs).await;
        roll_back(fleet, &[server], jobs).await;
        let (one, migrated) = migrate(fleet, Targets::All, jobs).await;
        assert_eq!(migrated, present);
        let (took, _, _) = back_up(fleet, Targets::All, jobs).await;
        println!(
            "| {present} | {} | {} | {} ({}) | {} | {} | {} | {} ({}) | {} ({}) | {} |",
            quantiles(&db),
            quantiles(&quiet),
            c.classes,
            c.tables,
            mb(c.catalog_bytes),
            mb(c.database_bytes),
            secs(idle),
            secs(one),
            each_ms(one, present),
            secs(took),
            each_ms(took, present),
            load()
        );
    }
}
