//! The subscription clock with 10,000 subscriptions (issue 16), against botctl's embedded local cluster:
//! - `next_due`, the one statement the daemon runs to know how long to sleep;
//! - `advance` when nothing is due (an idle wake: the due scan and the notice sweep);
//! - `advance` with 100 changes due at once (each its own transaction, event and notice);
//! - the real daemon (`botctl platform serve`) idle for a minute: its clock wake-ups and lease checks,
//!   read from its /metrics.
//!
//! Run: `cargo bench --bench clock` (or `-- 20000` for another size). Subscriptions are plain rows on
//! tenants without schemas, so the notices of the 100 changes fail and are counted, as a tenant not yet
//! migrated would make them: the changes themselves are made. Results are medians; see docs/BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use botctl::billing::clock::{self, ClockOptions};
use botctl::billing::notice::NoticeOptions;
use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use chrono::{TimeDelta, Utc};
use sqlx::PgPool;

const RUNS: usize = 21;
const DUE: i64 = 100;

fn main() {
    let size: i64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::Builder::new().prefix("botctl-bench-clock").tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = LocalCluster::new(dir.path(), None).expect("PostgreSQL server binaries are installed");
    runtime.block_on(cluster.ensure_running(&NoProgress)).unwrap();
    let pool = runtime.block_on(PgPool::connect_with(cluster.connect_options())).unwrap();
    runtime.block_on(botctl::db::control::init(&pool)).unwrap();
    let now = Utc::now();
    runtime.block_on(fill(&pool, size, now));
    let options = ClockOptions {
        grace: Duration::from_secs(3 * 86_400),
        notices: NoticeOptions::default(),
        actor: "bench".into(),
    };

    let next_due = median((0..RUNS).map(|_| {
        let start = Instant::now();
        runtime.block_on(clock::next_due(&pool, now)).unwrap();
        start.elapsed()
    }));
    let idle = median((0..RUNS).map(|_| {
        let start = Instant::now();
        let advanced = runtime
            .block_on(clock::advance(&botctl::db::servers::Servers::from_pool(pool.clone()), now, &options))
            .unwrap();
        assert!(advanced.changes.is_empty());
        start.elapsed()
    }));
    // The first DUE subscriptions end an hour from `now`: advancing to then makes DUE changes.
    let later = now + TimeDelta::hours(1);
    let start = Instant::now();
    let advanced = runtime
        .block_on(clock::advance(&botctl::db::servers::Servers::from_pool(pool.clone()), later, &options))
        .unwrap();
    let changes = start.elapsed();
    assert_eq!(advanced.changes.len() as i64, DUE);
    let again = {
        let start = Instant::now();
        let advanced = runtime
            .block_on(clock::advance(&botctl::db::servers::Servers::from_pool(pool.clone()), later, &options))
            .unwrap();
        assert!(advanced.changes.is_empty(), "each change once");
        start.elapsed()
    };

    println!(
        "| subscriptions | next_due (median of {RUNS}) | advance, nothing due (median of {RUNS}) | advance, {DUE} changes | advance again at the same instant |"
    );
    println!("|---|---|---|---|---|");
    println!("| {size} | {next_due:.2?} | {idle:.2?} | {changes:.2?} | {again:.2?} |");

    // The daemon itself, idle for a minute: nothing falls due in it.
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_botctl"))
        .args(["platform", "serve"])
        .env("BOTCTL_DATABASE_URL", cluster.url())
        .env("BOTCTL_DATA_DIR", dir.path())
        .env("BOTCTL_PLATFORM_LISTEN", listen.to_string())
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let watched = Duration::from_secs(60);
    std::thread::sleep(watched);
    let metrics = get(listen, "/metrics");
    let _ = daemon.kill();
    let _ = daemon.wait();
    let counter = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "\nplatform serve idle for {}s with {size} subscriptions: {} clock wake-ups, {} lease checks",
        watched.as_secs(),
        counter("botctl_platform_clock_wakeups_total"),
        counter("botctl_platform_lease_checks_total")
    );
    runtime.block_on(pool.close());
    cluster.stop().unwrap();
}

/// `size` tenants (rows only) with subscriptions: DUE of them end an hour from `now`, the rest spread
/// over the next year beyond 8 days, so nothing else is due or near a notice.
async fn fill(pool: &PgPool, size: i64, now: chrono::DateTime<Utc>) {
    sqlx::query(
        "INSERT INTO botctl.tenants (slug, display_name, bot_id, bot_username, token, admins, timezone, locale, \
                                     template, status) \
         SELECT 'b' || n, 'Bench ' || n, 800000000 + n, 'b' || n || '_bot', 'x', '{1}', 'Europe/Moscow', 'en', \
                'barbershop', 'stopped' FROM generate_series(1, $1) n",
    )
    .bind(size)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO botctl.subscriptions (tenant_id, state, paid_until) \
         SELECT id, CASE WHEN id % 2 = 0 THEN 'active' ELSE 'trial' END, \
                CASE WHEN id <= $2 THEN $1 + interval '1 hour' \
                     ELSE $1 + interval '8 days' + (id % 365) * interval '1 day' + (id % 86400) * interval '1 second' END \
         FROM botctl.tenants ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(now)
    .bind(DUE)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE botctl.subscriptions").execute(pool).await.unwrap();
}

fn median(samples: impl Iterator<Item = Duration>) -> Duration {
    let mut all: Vec<Duration> = samples.collect();
    all.sort();
    all[all.len() / 2]
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
