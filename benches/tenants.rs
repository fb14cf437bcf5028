//! Fleet benchmarks against botctl's embedded local cluster, timing the real release binary:
//! - `tenant create` (no container) with N tenants already present;
//! - `migrate --all` when every tenant is current;
//! - `migrate --all` applying one real migration (a column and an index) to every tenant.
//!
//! Run: `cargo bench --bench tenants` (N = 1000 and 2000), or `cargo bench --bench tenants -- 500 1000`.
//! Tenants are filled in through the library against botctl's Bot API emulator, so only the measured commands pay
//! for process start-up. Results are medians; record them in docs/BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use botctl::config::template::Locale;
use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::telegram::emulator::Emulator;
use botctl::tenant::ops;
use futures_util::StreamExt;
use sqlx::PgPool;

use common::barbershop;

const RUNS: usize = 7;
const MIGRATION_RUNS: usize = 3;
const BOT_ID_BASE: i64 = 700_000_000;

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1000, 2000] } else { sizes };
    let dir = tempfile::Builder::new().prefix("botctl-bench").tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = LocalCluster::new(dir.path(), None).expect("PostgreSQL server binaries are installed");
    runtime.block_on(cluster.ensure_running(&NoProgress)).unwrap();
    let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let api = emulator.url().to_string();
    let bench = Bench { dir: dir.path(), api: api.clone() };
    bench.botctl(&["init", "-q"]);
    let pool = runtime
        .block_on(sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(cluster.connect_options()))
        .unwrap();

    println!(
        "| tenants | tenant create (median of {RUNS}) | migrate --all, all current (median of {RUNS}) | migrate --all, one migration (median of {MIGRATION_RUNS}) |"
    );
    println!("|---|---|---|---|");
    let mut next_bot = 0;
    for size in sizes {
        let present = runtime.block_on(count(&pool));
        next_bot = runtime.block_on(fill(&pool, &emulator, present, size, next_bot));
        let create = median((0..RUNS).map(|_| {
            next_bot += 1;
            let slug = format!("bench{next_bot}");
            let token = token(BOT_ID_BASE + next_bot);
            emulator.add_bot(&token, BOT_ID_BASE + next_bot, &format!("bench_{next_bot}_bot"));
            bench.timed(&[
                "tenant",
                "create",
                "--no-start",
                &slug,
                "--token",
                &token,
                "--admin",
                "1",
                "--template",
                "barbershop",
                "-q",
            ])
        }));
        let current = median((0..RUNS).map(|_| bench.timed(&["migrate", "--all", "-q"])));
        let one_migration = median((0..MIGRATION_RUNS).map(|_| {
            runtime.block_on(roll_back_measured(&pool));
            bench.timed(&["migrate", "--all", "-q"])
        }));
        println!("| {size} | {} | {} | {} |", ms(create), ms(current), ms(one_migration));
    }
    runtime.block_on(pool.close());
    cluster.stop().unwrap();
}

struct Bench<'a> {
    dir: &'a Path,
    api: String,
}

impl Bench<'_> {
    fn botctl(&self, args: &[&str]) {
        // The reports would bury the results table; the exit status is what counts here.
        let status = self.command(args).stdout(std::process::Stdio::null()).status().unwrap();
        assert!(status.success(), "botctl {args:?} failed");
    }

    fn timed(&self, args: &[&str]) -> Duration {
        let start = Instant::now();
        self.botctl(args);
        start.elapsed()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_botctl"));
        cmd.env_clear()
            .env("HOME", self.dir)
            .env("BOTCTL_DATA_DIR", self.dir)
            .env("BOTCTL_TELEGRAM_API_URL", &self.api)
            .args(args);
        cmd
    }
}

fn token(bot_id: i64) -> String {
    format!("{bot_id}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ")
}

async fn count(pool: &PgPool) -> usize {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM botctl.tenants WHERE deleted_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap();
    usize::try_from(n).unwrap()
}

/// Creates tenants through the library, four at a time, until `size` exist; returns the last bot number used.
async fn fill(pool: &PgPool, emulator: &Emulator, present: usize, size: usize, mut next_bot: i64) -> i64 {
    let api = emulator.url();
    let servers = &botctl::db::servers::Servers::from_pool(pool.clone());
    let started = Instant::now();
    let jobs: Vec<i64> = (0..size.saturating_sub(present))
        .map(|_| {
            next_bot += 1;
            next_bot
        })
        .collect();
    futures_util::stream::iter(jobs)
        .map(|n| {
            emulator.add_bot(&token(BOT_ID_BASE + n), BOT_ID_BASE + n, &format!("bench_{n}_bot"));
            let options = barbershop(&format!("bench{n}"), &token(BOT_ID_BASE + n), Locale::Ru, api.clone());
            async move { ops::create(servers, &options, "bench", &NoProgress).await.unwrap() }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    eprintln!("filled to {size} tenants in {:.1} s", started.elapsed().as_secs_f64());
    next_bot
}

/// Undoes the measured migration everywhere, so `migrate --all` has exactly that one to apply.
async fn roll_back_measured(pool: &PgPool) {
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT 'tenant_' || slug FROM botctl.tenants WHERE deleted_at IS NULL")
            .fetch_all(pool)
            .await
            .unwrap();
    for schema in &schemas {
        common::undo_measured_migration(pool, schema).await;
    }
    common::mark_behind(pool).await;
}

fn median(samples: impl Iterator<Item = Duration>) -> Duration {
    let mut samples: Vec<Duration> = samples.collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}
