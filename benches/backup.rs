//! Backup benchmarks against botctl's embedded local cluster, timing the real release binary:
//! - `backup --all` of N tenants with about 200 bookings each (and their customers and outbox rows),
//!   against a loop of `pg_dump -n tenant_<slug> -Fc` over the same tenants in the same run;
//! - the archives' total size against pg_dump's files;
//! - `restore --force` of one tenant.
//!
//! Run: `cargo bench --bench backup` (1,000 tenants), or `cargo bench --bench backup -- 200`.
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

const BOT_ID_BASE: i64 = 710_000_000;
const BOOKINGS: usize = 200;

fn main() {
    let tenants: i64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::Builder::new().prefix("botctl-bench-backup").tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = LocalCluster::new(&dir.path().join("data"), None).expect("PostgreSQL server binaries are installed");
    runtime.block_on(cluster.ensure_running(&NoProgress)).unwrap();
    let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let botctl = |args: &[&str]| {
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_botctl"))
            .env_clear()
            .env("HOME", dir.path())
            .env("BOTCTL_DATA_DIR", dir.path().join("data"))
            .env("BOTCTL_BACKUP_DIR", dir.path().join("backups"))
            .env("BOTCTL_TELEGRAM_API_URL", emulator.url().as_str())
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "botctl {args:?} failed");
        started.elapsed()
    };
    botctl(&["init", "-q"]);
    let pool = runtime
        .block_on(sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(cluster.connect_options()))
        .unwrap();
    let started = Instant::now();
    runtime.block_on(fill(&pool, &emulator, tenants));
    eprintln!("{tenants} tenants with {BOOKINGS} bookings each in {:.0} s", started.elapsed().as_secs_f64());

    let ours = botctl(&["backup", "--all", "-q"]);
    let ours_one_job = botctl(&["backup", "--all", "--jobs", "1", "-q"]);
    let archives = size(&dir.path().join("backups")) / 2;

    let dumps = dir.path().join("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    // pg_dump sits beside the real initdb (the bin directory found may hold links to a few binaries).
    let pg_dump = std::fs::canonicalize(cluster.bin_dir().join("initdb")).unwrap().with_file_name("pg_dump");
    let started = Instant::now();
    for n in 1..=tenants {
        let status = Command::new(&pg_dump)
            .args(["-d", &cluster.url(), "-n", &format!("tenant_bench{n}"), "-Fc", "-f"])
            .arg(dumps.join(format!("bench{n}.dump")))
            .status()
            .unwrap();
        assert!(status.success(), "pg_dump failed");
    }
    let theirs = started.elapsed();
    let dumped = size(&dumps);

    let archive = botctl::backup::list(&dir.path().join("backups/bench1"), "bench1").unwrap().remove(0).path;
    let restores: Vec<Duration> =
        (0..5).map(|_| botctl(&["restore", "bench1", "--from", archive.to_str().unwrap(), "--force", "-q"])).collect();
    let mut restores = restores;
    restores.sort();

    runtime.block_on(pool.close());
    cluster.stop().unwrap();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| `backup --all` of {tenants} tenants ({BOOKINGS} bookings each), 4 jobs | {:.1} s |",
        ours.as_secs_f64()
    );
    println!("| the same, `--jobs 1` | {:.1} s |", ours_one_job.as_secs_f64());
    println!("| `pg_dump -n tenant_<slug> -Fc` for each, one after another | {:.1} s |", theirs.as_secs_f64());
    println!(
        "| speed-up, 4 jobs / 1 job | {:.1}× / {:.1}× |",
        theirs.as_secs_f64() / ours.as_secs_f64(),
        theirs.as_secs_f64() / ours_one_job.as_secs_f64()
    );
    println!(
        "| size: botctl's archives / pg_dump's files | {:.1} MB / {:.1} MB |",
        archives as f64 / 1e6,
        dumped as f64 / 1e6
    );
    println!(
        "| `restore --force` of one tenant, process start to exit (median of 5; fastest, slowest) | {:.2} s ({:.2}, {:.2}) |",
        restores[2].as_secs_f64(),
        restores[0].as_secs_f64(),
        restores[4].as_secs_f64()
    );
}

/// Creates `tenants` barbershops through the library, each with as many customers as bookings, an
/// hour apart from tomorrow on, and their outbox rows (as the bot would have written them).
async fn fill(pool: &PgPool, emulator: &Emulator, tenants: i64) {
    let api = emulator.url();
    let servers = &botctl::db::servers::Servers::from_pool(pool.clone());
    futures_util::stream::iter(1..=tenants)
        .map(|n| {
            let token = format!("{}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", BOT_ID_BASE + n);
            emulator.add_bot(&token, BOT_ID_BASE + n, &format!("backup_{n}_bot"));
            let options = barbershop(&format!("bench{n}"), &token, Locale::Ru, api.clone());
            async move {
                ops::create(servers, &options, "bench", &NoProgress).await.unwrap();
                common::book(pool, &format!("tenant_bench{n}"), BOOKINGS).await;
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
}

/// Bytes of the files under `dir`, recursively.
fn size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| if e.file_type().unwrap().is_dir() { size(&e.path()) } else { e.metadata().unwrap().len() })
        .sum()
}
