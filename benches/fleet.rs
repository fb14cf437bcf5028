//! A fleet on one host: N tenants with their containers against a local cluster pinned to
//! PostgreSQL's default `max_connections` (100), the release binary, the real engine and botctl's Bot
//! API emulator in this process. Measured, in order:
//! - creating the N tenants (`tenant create --no-start`, 4 at once) and starting them all
//!   (`tenant start`, `jobs` at once): wall time until every start returned, and how many failed;
//! - after a minute idle, over another minute: the host's CPU from /proc/stat and its split between
//!   the bots' containers, their shims and overlay mounts, dockerd, containerd, PostgreSQL and this
//!   process (the emulator answering the bots' long polls); the server's backends; the memory of the
//!   containers (their cgroups) and of the engine's processes; how many bots answer `/healthz`;
//! - a burst: a tenth of the tenants each get `customers` new customers booking at once through the
//!   barbershop flow; the handler latency p99 over those bots (their `botctl_handler_seconds`
//!   histograms merged, after less before), the most backends seen (sampled every 100 ms) and the
//!   bookings made (rows in their tables);
//! - `tenant upgrade --all` to a second tag of the image, with its default `--jobs`;
//! - every tenant stopped, then all started again from stopped (`jobs` at once).
//!
//! Whatever this made — containers of its installation, the image tags, the cluster — is removed at the
//! end, also when it fails halfway.
//!
//! Run: `cargo bench --bench fleet -- 500`, or with other figures:
//! `cargo bench --bench fleet -- 30 jobs=8 customers=1 settle=60 window=60`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::telegram::emulator::{ChatMessage, Emulator, TgUser};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use common::{histogram, histogram_delta, metrics, quantile_bound, status_kib};

const BOT_ID_BASE: i64 = 810_000_000;
/// The tenants' flood limits are the template's defaults (2 s between messages, 1 s between button
/// presses); customers keep just above them, as people do anyway.
const TEXT_PACE: Duration = Duration::from_millis(2100);
const PRESS_PACE: Duration = Duration::from_millis(1100);
const WAIT: Duration = Duration::from_secs(60);
const LABEL_INSTALLATION: &str = "botctl.installation";

struct Args {
    tenants: usize,
    /// `tenant start` (and stop) processes at once.
    jobs: usize,
    /// New customers booking at once on each of the burst's tenants.
    customers: usize,
    /// Seconds idle before the idle window, and the window's length.
    settle: u64,
    window: u64,
}

fn args() -> Args {
    let mut args = Args { tenants: 30, jobs: 8, customers: 1, settle: 60, window: 60 };
    for arg in std::env::args().skip(1) {
        let number = |v: &str| v.parse::<u64>().unwrap_or_else(|_| panic!("`{arg}`: a number after `=`"));
        match arg.split_once('=') {
            Some(("jobs", v)) => args.jobs = number(v).max(1) as usize,
            Some(("customers", v)) => args.customers = number(v) as usize,
            Some(("settle", v)) => args.settle = number(v),
            Some(("window", v)) => args.window = number(v).max(1),
            // cargo bench passes `--bench`.
            _ => {
                if let Ok(n) = arg.parse() {
                    args.tenants = n;
                }
            }
        }
    }
    args
}

fn slug(i: usize) -> String {
    format!("fleet{i}")
}

fn token(i: usize) -> String {
    format!("{}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", BOT_ID_BASE + i as i64)
}

/// A line on stderr, with the time since the start: the phases' lengths at one N predict another's.
fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let since = START.get_or_init(Instant::now).elapsed();
    eprintln!("[fleet +{:.0} s] {what}", since.as_secs_f64());
}

fn main() {
    let args = args();
    let n = args.tenants;
    let dir = tempfile::Builder::new().prefix("botctl-bench-fleet").tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let tag = format!("botctl-bench-fleet:{}", std::process::id());
    let next = format!("{tag}-next");
    let guard = Guard {
        docker: docker.clone(),
        data: data.clone(),
        tags: vec![tag.clone(), next.clone()],
        installation: Mutex::new(None),
    };
    let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let api = emulator.url().to_string();
    let botctl = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_botctl"));
        cmd.env_clear()
            .env("HOME", dir.path())
            .env("BOTCTL_DATA_DIR", &data)
            .env("BOTCTL_TELEGRAM_API_URL", &api)
            .env("BOTCTL_DOCKER_IMAGE", &tag)
            .args(args)
            .stdin(Stdio::null());
        cmd
    };
    let run = |args: &[&str]| {
        let status = botctl(args).stdout(Stdio::null()).status().unwrap();
        assert!(status.success(), "botctl {args:?} failed");
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |what: &str, value: String| rows.push((what.to_string(), value));

    progress("building the image and the cluster");
    run(&["image", "build", "--tag", &tag]);
    run(&["init", "-q"]);
    let cluster = LocalCluster::new(&data, None).unwrap();
    let pool = runtime.block_on(pin_max_connections(&cluster));
    let installation = runtime.block_on(botctl::db::control::installation(&pool)).unwrap();
    *guard.installation.lock().unwrap() = Some(installation.clone());
    let max_connections: String =
        runtime.block_on(sqlx::query_scalar("SHOW max_connections").fetch_one(&pool)).unwrap();
    row("server `max_connections`", max_connections);

    // Creating: the control plane's work only, 4 at once (the bots start below).
    for i in 0..n {
        emulator.add_bot(&token(i), BOT_ID_BASE + i as i64, &format!("fleet_{i}_bot"));
    }
    let creates: Vec<Vec<String>> = (0..n)
        .map(|i| {
            ["tenant", "create", &slug(i), "--token", &token(i), "--admin", "1", "--template", "barbershop"]
                .into_iter()
                .chain(["--locale", "en", "--no-start"])
                .map(String::from)
                .collect()
        })
        .collect();
    let (elapsed, failed) = parallel("created", 4, &creates, &botctl);
    assert!(failed.is_empty(), "{} tenant creates failed", failed.len());
    row(&format!("`tenant create --no-start` × {n}, 4 at once"), format!("{:.1} s", elapsed.as_secs_f64()));

    let starts: Vec<Vec<String>> = (0..n).map(|i| vec!["tenant".into(), "start".into(), slug(i)]).collect();
    let (elapsed, failed) = parallel("started", args.jobs, &starts, &botctl);
    row(
        &format!("first start of all ({} at once, containers made): until every `tenant start` returned", args.jobs),
        format!("{:.1} s, {} of {n} failed", elapsed.as_secs_f64(), failed.len()),
    );

    // Idle.
    let bots = runtime.block_on(survey(&docker, &installation));
    progress(&format!(
        "{} containers running; idle for {} s, then measuring for {} s",
        bots.len(),
        args.settle,
        args.window
    ));
    std::thread::sleep(Duration::from_secs(args.settle));
    let before = Snapshot::take(&bots, &cluster);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(args.window));
    let after = Snapshot::take(&bots, &cluster);
    let cpu = after.cpu_since(&before, started.elapsed());
    let (backends, tenant_backends) = runtime.block_on(backends(&pool));
    let healthy = runtime.block_on(healthz(&bots));
    let docker_healthy = runtime.block_on(docker_health(&docker, &installation));
    let memory = Memory::now(&bots, &cluster);
    row(
        &format!(
            "running after the start / answering `/healthz` after {} s idle / Docker says healthy (its first check comes one health interval after a start)",
            args.settle + args.window
        ),
        format!("{} / {healthy} / {docker_healthy}", bots.len()),
    );
    row("idle: host CPU, all processes including other work on the host (% of one core)", format!("{:.1} %", cpu.host));
    row(
        "idle: CPU (% of one core) of the fleet: bots + healthchecks in their containers + shims (with `runc`) + overlay mounts + dockerd + containerd + PostgreSQL + emulator",
        format!(
            "{:.1} = {:.1} + {:.1} + {:.1} + {:.1} + {:.1} + {:.1} + {:.1} + {:.1}",
            cpu.fleet(),
            cpu.bots,
            cpu.checks,
            cpu.shims,
            cpu.overlays,
            cpu.dockerd,
            cpu.containerd,
            cpu.postgres,
            cpu.bench
        ),
    );
    row("idle: server backends, all client backends / of tenant roles", format!("{backends} / {tenant_backends}"));
    row(
        "idle: memory of the containers (cgroups: usage less inactive file pages), total / per container",
        format!("{:.1} MiB / {:.1} MiB", mib(memory.containers), mib(memory.containers) / bots.len().max(1) as f64),
    );
    row(
        "idle: RSS (PSS) of the shims / overlay mounts, total",
        format!(
            "{:.1} ({:.1}) MiB / {:.1} ({:.1}) MiB",
            mib(memory.shims.0),
            mib(memory.shims.1),
            mib(memory.overlays.0),
            mib(memory.overlays.1)
        ),
    );
    row(
        "idle: RSS of dockerd / containerd",
        format!("{:.1} MiB / {:.1} MiB", mib(memory.dockerd), mib(memory.containerd)),
    );

    // The burst.
    let chosen: Vec<(usize, &Bot)> = bots.iter().filter(|b| b.index % 10 == 0).map(|b| (b.index, b)).collect();
    progress(&format!("burst: {} tenants × {} customers", chosen.len(), args.customers));
    let before = Snapshot::take(&bots, &cluster);
    let (burst, burst_time) = runtime.block_on(burst(&emulator, &pool, &chosen, args.customers));
    let cpu = Snapshot::take(&bots, &cluster).cpu_since(&before, burst_time);
    row(
        &format!(
            "burst: {} tenants × {} new customers booking at once: bookings made / wall time",
            chosen.len(),
            args.customers
        ),
        format!("{} of {} / {:.1} s", burst.booked, chosen.len() * args.customers, burst_time.as_secs_f64()),
    );
    row("burst: handler latency p50 / p99 over those bots (bucket bounds)", format!("{} / {}", burst.p50, burst.p99));
    row(
        "burst: CPU (% of one core) of the fleet, as at idle / of the host",
        format!("{:.1} / {:.1}", cpu.fleet(), cpu.host),
    );
    row("burst: most server backends (all client backends, sampled every 100 ms)", burst.peak_backends.to_string());

    // Upgrade to a second tag of the same image.
    let (repo, version) = next.rsplit_once(':').unwrap();
    let options = TagImageOptionsBuilder::default().repo(repo).tag(version).build();
    runtime.block_on(docker.tag_image(&tag, Some(options))).unwrap();
    progress("tenant upgrade --all");
    let started = Instant::now();
    let output = botctl(&["tenant", "upgrade", "--all", "--image", &next]).output().unwrap();
    let upgrade = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().find(|l| l.contains(" upgraded, ")).unwrap_or("no summary").to_string();
    row(
        "`tenant upgrade --all` to another tag (default `--jobs`)",
        format!("{:.1} s ({summary})", upgrade.as_secs_f64()),
    );

    // Stop all, then start all from stopped.
    let stops: Vec<Vec<String>> = (0..n).map(|i| vec!["tenant".into(), "stop".into(), slug(i)]).collect();
    let (elapsed, failed) = parallel("stopped", args.jobs, &stops, &botctl);
    row(
        &format!("stop all ({} at once)", args.jobs),
        format!("{:.1} s, {} failed", elapsed.as_secs_f64(), failed.len()),
    );
    let (elapsed, failed) = parallel("started", args.jobs, &starts, &botctl);
    let running = runtime.block_on(survey(&docker, &installation)).len();
    row(
        &format!("start all from stopped ({} at once): until every `tenant start` returned", args.jobs),
        format!("{:.1} s, {} of {n} failed, {running} running", elapsed.as_secs_f64(), failed.len()),
    );

    runtime.block_on(pool.close());
    drop(guard);
    println!("| fleet of {n} tenants | value |");
    println!("|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// The cluster `botctl init` made, at PostgreSQL's default `max_connections` whatever botctl chose
/// (ALTER SYSTEM outranks postgresql.conf), restarted; returns a small superuser pool to it.
async fn pin_max_connections(cluster: &LocalCluster) -> PgPool {
    let pool = PgPool::connect_with(cluster.connect_options()).await.unwrap();
    sqlx::query("ALTER SYSTEM SET max_connections = 100").execute(&pool).await.unwrap();
    pool.close().await;
    cluster.stop().unwrap();
    cluster.ensure_running(&NoProgress).await.unwrap();
    PgPoolOptions::new().max_connections(2).connect_with(cluster.connect_options()).await.unwrap()
}

/// Runs one botctl process per item, `jobs` at once; returns the wall time and the items that failed.
/// Progress every 50 on stderr; the first few failures' messages too.
fn parallel(
    what: &str,
    jobs: usize,
    items: &[Vec<String>],
    botctl: &(dyn Fn(&[&str]) -> Command + Sync),
) -> (Duration, Vec<usize>) {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let args: Vec<&str> = item.iter().map(String::as_str).collect();
                    let output = botctl(&args).output().unwrap();
                    if !output.status.success() {
                        let mut failed = failed.lock().unwrap();
                        if failed.len() < 3 {
                            let message = String::from_utf8_lossy(&output.stderr);
                            progress(&format!("botctl {} failed: {}", item.join(" "), message.trim()));
                        }
                        failed.push(i);
                    }
                    let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if done.is_multiple_of(50) || done == items.len() {
                        progress(&format!("{what} {done}/{} ({:.0} s)", items.len(), started.elapsed().as_secs_f64()));
                    }
                }
            });
        }
    });
    (started.elapsed(), failed.into_inner().unwrap())
}

/// One running bot: its tenant's number, its container's process and where its /healthz listens.
struct Bot {
    index: usize,
    token: String,
    pid: u32,
    /// The container's shim: the parent of its first process.
    shim: u32,
    http_addr: String,
    /// The container's overlay mount point, to find its fuse-overlayfs process when the engine uses one.
    merged_dir: Option<String>,
}

/// The running containers of this installation.
async fn survey(docker: &bollard::Docker, installation: &str) -> Vec<Bot> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_INSTALLATION}={installation}")])]);
    let options = ListContainersOptionsBuilder::default().filters(&filters).build();
    let mut bots = Vec::new();
    for container in docker.list_containers(Some(options)).await.unwrap() {
        let Some(id) = container.id else { continue };
        let Ok(inspect) = docker.inspect_container(&id, None::<InspectContainerOptions>).await else { continue };
        let pid = inspect.state.and_then(|s| s.pid).unwrap_or(0) as u32;
        let config = inspect.config.unwrap_or_default();
        let env = config.env.unwrap_or_default();
        let http_addr = env.iter().find_map(|e| e.strip_prefix("BOTCTL_HTTP_ADDR=")).unwrap_or_default().to_string();
        let tenant = config.labels.unwrap_or_default().get("botctl.tenant").cloned().unwrap_or_default();
        let Some(index) = tenant.strip_prefix("fleet").and_then(|i| i.parse().ok()) else { continue };
        let merged_dir = inspect.graph_driver.and_then(|g| g.data.get("MergedDir").cloned());
        if pid == 0 {
            continue;
        }
        bots.push(Bot {
            index,
            token: token(index),
            pid,
            shim: proc_stat(pid).map_or(0, |s| s.ppid),
            http_addr,
            merged_dir,
        });
    }
    bots.sort_by_key(|b| b.index);
    bots
}

async fn backends(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), count(*) FILTER (WHERE usename LIKE 'tenant\\_%') \
         FROM pg_stat_activity",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// How many bots answer `/healthz` with 200 (each asked once, all at once).
async fn healthz(bots: &[Bot]) -> usize {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let probes = bots.iter().map(|b| {
        let request = client.get(format!("http://{}/healthz", b.http_addr));
        async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
    });
    futures_util::future::join_all(probes).await.into_iter().filter(|ok| *ok).count()
}

/// How many of this installation's containers Docker calls healthy.
async fn docker_health(docker: &bollard::Docker, installation: &str) -> usize {
    let filters = HashMap::from([
        ("label".to_string(), vec![format!("{LABEL_INSTALLATION}={installation}")]),
        ("health".to_string(), vec!["healthy".to_string()]),
    ]);
    let options = ListContainersOptionsBuilder::default().filters(&filters).build();
    docker.list_containers(Some(options)).await.map_or(0, |c| c.len())
}

struct ProcStat {
    comm: String,
    ppid: u32,
    /// utime + stime + cutime + cstime: the process and the children it has waited for (a shim's
    /// `runc` calls, the postmaster's ended backends), in clock ticks.
    ticks: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = text.rsplit_once(") ")?;
    let comm = head.split_once(" (")?.1.to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime..cstime are fields 14-17.
    let tick = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Some(ProcStat { comm, ppid: tick(4) as u32, ticks: tick(14) + tick(15) + tick(16) + tick(17) })
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The directory of `pid`'s cgroup for a cgroup v1 `controller`, or its cgroup v2 directory.
fn cgroup_dir(pid: u32, controller: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            unified = Some(Path::new("/sys/fs/cgroup").join(path));
        } else if controllers.split(',').any(|c| c == controller) {
            let dir = Path::new("/sys/fs/cgroup").join(controllers).join(path);
            if dir.is_dir() {
                return Some(dir);
            }
        }
    }
    unified.filter(|d| d.is_dir())
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn stat_field(path: &Path, field: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(' ')?.parse().ok())
}

/// A container's CPU time so far in nanoseconds, from its cgroup.
fn container_cpu_ns(pid: u32) -> u64 {
    let Some(dir) = cgroup_dir(pid, "cpuacct") else { return 0 };
    read_u64(&dir.join("cpuacct.usage"))
        .or_else(|| stat_field(&dir.join("cpu.stat"), "usage_usec").map(|us| us * 1000))
        .unwrap_or(0)
}

/// A container's memory as `docker stats` counts it: usage less the inactive file pages.
fn container_memory(pid: u32) -> u64 {
    let Some(dir) = cgroup_dir(pid, "memory") else { return 0 };
    if let Some(usage) = read_u64(&dir.join("memory.usage_in_bytes")) {
        return usage.saturating_sub(stat_field(&dir.join("memory.stat"), "total_inactive_file").unwrap_or(0));
    }
    let current = read_u64(&dir.join("memory.current")).unwrap_or(0);
    current.saturating_sub(stat_field(&dir.join("memory.stat"), "inactive_file").unwrap_or(0))
}

/// The processes measured, by group.
#[derive(Default)]
struct Groups {
    bots: HashSet<u32>,
    shims: HashSet<u32>,
    overlays: HashSet<u32>,
    dockerd: HashSet<u32>,
    containerd: HashSet<u32>,
    postgres: HashSet<u32>,
}

impl Groups {
    fn find(bots: &[Bot], cluster: &LocalCluster) -> Groups {
        let merged: Vec<&str> = bots.iter().filter_map(|b| b.merged_dir.as_deref()).collect();
        let postmaster: Option<u32> = std::fs::read_to_string(cluster.pgdata().join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse().ok());
        let mut groups = Groups {
            bots: bots.iter().map(|b| b.pid).collect(),
            shims: bots.iter().map(|b| b.shim).collect(),
            ..Groups::default()
        };
        for pid in pids() {
            let Some(stat) = proc_stat(pid) else { continue };
            match stat.comm.as_str() {
                "dockerd" => _ = groups.dockerd.insert(pid),
                "containerd" => _ = groups.containerd.insert(pid),
                "fuse-overlayfs" => {
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let cmdline = String::from_utf8_lossy(&cmdline);
                    if merged.iter().any(|m| cmdline.contains(m)) {
                        groups.overlays.insert(pid);
                    }
                }
                _ => {}
            }
            if Some(pid) == postmaster || (postmaster.is_some() && Some(stat.ppid) == postmaster) {
                groups.postgres.insert(pid);
            }
        }
        groups
    }
}

/// CPU counters at one moment.
struct Snapshot {
    /// /proc/stat's `cpu` line: (busy, all) jiffies, and how many CPUs.
    host: (u64, u64, usize),
    ticks: HashMap<u32, u64>,
    containers_ns: u64,
    groups: Groups,
}

struct Cpu {
    host: f64,
    /// The bots' own processes.
    bots: f64,
    /// Whatever else ran in their containers: the healthchecks Docker exec'd.
    checks: f64,
    /// The shims and what they ran outside the containers (`runc`).
    shims: f64,
    overlays: f64,
    dockerd: f64,
    containerd: f64,
    postgres: f64,
    bench: f64,
}

impl Cpu {
    fn fleet(&self) -> f64 {
        self.bots
            + self.checks
            + self.shims
            + self.overlays
            + self.dockerd
            + self.containerd
            + self.postgres
            + self.bench
    }
}

impl Snapshot {
    fn take(bots: &[Bot], cluster: &LocalCluster) -> Snapshot {
        let groups = Groups::find(bots, cluster);
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let fields: Vec<u64> =
            stat.lines().next().unwrap().split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
        let all: u64 = fields.iter().take(8).sum();
        let busy = all - fields[3] - fields[4];
        let cpus = stat.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).count();
        let mut ticks = HashMap::new();
        let me = std::process::id();
        for pid in groups.all().chain([me]) {
            if let Some(s) = proc_stat(pid) {
                ticks.insert(pid, s.ticks);
            }
        }
        let containers_ns = bots.iter().map(|b| container_cpu_ns(b.pid)).sum();
        Snapshot { host: (busy, all, cpus), ticks, containers_ns, groups }
    }

    /// Percentages of one core since `before`.
    fn cpu_since(&self, before: &Snapshot, elapsed: Duration) -> Cpu {
        let (busy, all) = (self.host.0 - before.host.0, self.host.1 - before.host.1);
        let cpus = self.host.2.max(1) as f64;
        // Clock ticks a second, from the host's own count: all its jiffies over the time and CPUs.
        let hz = all as f64 / elapsed.as_secs_f64() / cpus;
        let group = |pids: &HashSet<u32>| {
            let ticks: u64 =
                pids.iter().filter_map(|p| Some(self.ticks.get(p)?.saturating_sub(*before.ticks.get(p)?))).sum();
            ticks as f64 / hz / elapsed.as_secs_f64() * 100.0
        };
        let containers =
            (self.containers_ns.saturating_sub(before.containers_ns)) as f64 / 1e9 / elapsed.as_secs_f64() * 100.0;
        let bots = group(&self.groups.bots);
        let checks = (containers - bots).max(0.0);
        Cpu {
            host: busy as f64 / all.max(1) as f64 * cpus * 100.0,
            bots,
            checks,
            // An exec'd process ends as a child of its container's shim, so its time is in the shim's
            // children's time as well as in the container's cgroup: counted once, as a check.
            shims: (group(&self.groups.shims) - checks).max(0.0),
            overlays: group(&self.groups.overlays),
            dockerd: group(&self.groups.dockerd),
            containerd: group(&self.groups.containerd),
            postgres: group(&self.groups.postgres),
            bench: group(&HashSet::from([std::process::id()])),
        }
    }
}

impl Groups {
    fn all(&self) -> impl Iterator<Item = u32> + '_ {
        self.shims
            .iter()
            .chain(&self.bots)
            .chain(&self.overlays)
            .chain(&self.dockerd)
            .chain(&self.containerd)
            .chain(&self.postgres)
            .copied()
    }
}

struct Memory {
    containers: u64,
    /// (RSS, PSS) in bytes.
    shims: (u64, u64),
    overlays: (u64, u64),
    dockerd: u64,
    containerd: u64,
}

impl Memory {
    fn now(bots: &[Bot], cluster: &LocalCluster) -> Memory {
        let groups = Groups::find(bots, cluster);
        let rss_pss = |pids: &HashSet<u32>| {
            let rss: u64 = pids.iter().map(|p| status_kib(*p, "VmRSS")).sum();
            let pss: u64 = pids.iter().map(|p| pss_kib(*p)).sum();
            (rss * 1024, pss * 1024)
        };
        Memory {
            containers: bots.iter().map(|b| container_memory(b.pid)).sum(),
            shims: rss_pss(&groups.shims),
            overlays: rss_pss(&groups.overlays),
            dockerd: rss_pss(&groups.dockerd).0,
            containerd: rss_pss(&groups.containerd).0,
        }
    }
}

fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Pss:")?.split_whitespace().next()?.parse().ok()))
        .unwrap_or(0)
}

struct Burst {
    booked: i64,
    p50: String,
    p99: String,
    peak_backends: i64,
}

/// `customers` new customers on each chosen bot, all at once; the backends sampled meanwhile.
async fn burst(emulator: &Emulator, pool: &PgPool, bots: &[(usize, &Bot)], customers: usize) -> (Burst, Duration) {
    let all_metrics = |bots: Vec<String>| async move {
        let texts = futures_util::future::join_all(bots.iter().map(|addr| metrics(addr))).await;
        histogram(&texts.join("\n"), "botctl_handler_seconds")
    };
    let addrs: Vec<String> = bots.iter().map(|(_, b)| b.http_addr.clone()).collect();
    let before = all_metrics(addrs.clone()).await;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pool) = (done.clone(), pool.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(backends(&pool).await.0);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let flows = bots.iter().flat_map(|(index, bot)| {
        (0..customers)
            .map(move |c| customer(emulator.clone(), bot.token.clone(), 3_000_000 + (*index * 1000 + c) as i64))
    });
    futures_util::future::join_all(flows).await;
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak_backends = sampler.await.unwrap();
    let after = all_metrics(addrs).await;
    let delta = histogram_delta(&after, &before);
    let mut booked = 0;
    for (index, _) in bots {
        let sql = format!("SELECT count(*) FROM tenant_{}.bookings", slug(*index));
        booked += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap_or(0);
    }
    let burst = Burst { booked, p50: quantile_bound(&delta, 0.5), p99: quantile_bound(&delta, 0.99), peak_backends };
    (burst, elapsed)
}

/// One new customer through the barbershop's booking: /start, the menu's booking button, a service, a
/// day from the day after tomorrow on, a time, confirm, and the phone number as a shared contact.
/// Gives up at a step the bot does not answer within a minute.
async fn customer(emulator: Emulator, token: String, id: i64) {
    let user = TgUser::new(id, "Bench");
    let newest = |chat: &[ChatMessage]| chat.iter().rev().find(|m| m.from_bot && !m.deleted).cloned();
    let has = |prefix: &'static str| {
        move |chat: &[ChatMessage]| newest(chat).is_some_and(|m| !m.callbacks(prefix).is_empty())
    };
    let mix = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let pick = |choices: &[String], step: u32| {
        choices.get((mix.rotate_left(step * 7) % choices.len().max(1) as u64) as usize).cloned()
    };

    emulator.send_text(&token, &user, "/start");
    let Ok(chat) = emulator.wait_until(&token, id, |c| newest(c).is_some(), WAIT).await else { return };
    // The menu is a reply keyboard: its first button books (the template may name it its own way).
    let Some(book) = chat.iter().rev().filter(|m| m.from_bot).flat_map(|m| m.buttons()).find(|(_, d)| d.is_empty())
    else {
        return;
    };
    tokio::time::sleep(TEXT_PACE).await;
    emulator.send_text(&token, &user, &book.0);
    let press = |prefix: &'static str, then: &'static str, step: u32| {
        let (emulator, token, user) = (emulator.clone(), token.clone(), user.clone());
        async move {
            tokio::time::sleep(PRESS_PACE).await;
            let message = newest(&emulator.chat(&token, id))?;
            let choice = pick(&message.callbacks(prefix), step)?;
            let query = emulator.press_button(&token, &user, message.message_id, &choice);
            emulator.wait_answered(&token, &query, WAIT).await.ok()?;
            emulator.wait_until(&token, id, has(then), WAIT).await.ok()
        }
    };
    if emulator.wait_until(&token, id, has("s:"), WAIT).await.is_err() || press("s:", "d:", 1).await.is_none() {
        return;
    }
    // From the day after tomorrow: today's times may be gone, and this month may have none left.
    let soon = (chrono::Utc::now() + chrono::TimeDelta::days(2)).format("%Y%m%d").to_string();
    let later = |m: &ChatMessage| -> Vec<String> {
        m.callbacks("d:").into_iter().filter(|d| d.split(':').nth(2).is_some_and(|day| day >= soon.as_str())).collect()
    };
    let Some(mut calendar) = newest(&emulator.chat(&token, id)) else { return };
    if later(&calendar).is_empty() {
        let Some(forward) = calendar.callbacks("m:").last().cloned() else { return };
        tokio::time::sleep(PRESS_PACE).await;
        let query = emulator.press_button(&token, &user, calendar.message_id, &forward);
        let _ = emulator.wait_answered(&token, &query, WAIT).await;
        let turned = |chat: &[ChatMessage]| newest(chat).is_some_and(|m| !later(&m).is_empty());
        let Ok(chat) = emulator.wait_until(&token, id, turned, WAIT).await else { return };
        calendar = newest(&chat).unwrap();
    }
    let Some(day) = pick(&later(&calendar), 2) else { return };
    tokio::time::sleep(PRESS_PACE).await;
    let query = emulator.press_button(&token, &user, calendar.message_id, &day);
    if emulator.wait_answered(&token, &query, WAIT).await.is_err()
        || emulator.wait_until(&token, id, has("t:"), WAIT).await.is_err()
        || press("t:", "c:", 3).await.is_none()
    {
        return;
    }
    let Some(card) = newest(&emulator.chat(&token, id)) else { return };
    let Some(confirm) = card.callbacks("c:").first().cloned() else { return };
    tokio::time::sleep(PRESS_PACE).await;
    let query = emulator.press_button(&token, &user, card.message_id, &confirm);
    if emulator.wait_answered(&token, &query, WAIT).await.is_err() {
        return;
    }
    let asks_phone =
        |m: &ChatMessage| m.reply_markup.as_ref().is_some_and(|r| r.to_string().contains("request_contact"));
    let Ok(chat) =
        emulator.wait_until(&token, id, |c| newest(c).is_some_and(|m| m.message_id > card.message_id), WAIT).await
    else {
        return;
    };
    if newest(&chat).is_some_and(|m| asks_phone(&m)) {
        let after = newest(&chat).unwrap().message_id;
        tokio::time::sleep(TEXT_PACE).await;
        emulator.send_contact(&token, &user, &format!("+7901{:07}", id % 10_000_000));
        let _ = emulator.wait_until(&token, id, |c| newest(c).is_some_and(|m| m.message_id > after), WAIT).await;
    }
}

/// Removes what the benchmark made, whatever happened before: this installation's containers (by its
/// label, so nobody else's), the image tags, the cluster.
struct Guard {
    docker: bollard::Docker,
    data: PathBuf,
    tags: Vec<String>,
    installation: Mutex<Option<String>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        progress("cleaning up");
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        let installation = self.installation.lock().map(|i| i.clone()).unwrap_or(None);
        if let Some(installation) = installation {
            let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_INSTALLATION}={installation}")])]);
            let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
            let containers = runtime.block_on(self.docker.list_containers(Some(options))).unwrap_or_default();
            let removals = containers.into_iter().filter_map(|c| c.id).map(|id| {
                let docker = self.docker.clone();
                async move {
                    let options = RemoveContainerOptionsBuilder::default().force(true).build();
                    let _ = docker.remove_container(&id, Some(options)).await;
                }
            });
            runtime.block_on(futures_util::future::join_all(removals));
        }
        for tag in &self.tags {
            let options = RemoveImageOptionsBuilder::default().force(true).build();
            let _ = runtime.block_on(self.docker.remove_image(tag, Some(options), None));
        }
        if let Ok(cluster) = LocalCluster::new(&self.data, None) {
            let _ = cluster.stop();
        }
    }
}
