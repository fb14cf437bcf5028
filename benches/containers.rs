//! Docker runtime benchmarks: the release binary against the real engine, a throwaway local cluster
//! (whose shared socket the containers mount) and botctl's Bot API emulator, measuring
//! - the tenant image's size;
//! - `tenant create` including its container until healthy (median);
//! - the idle memory of one tenant container, from the engine's stats;
//! - many tenants started at once: time until all are healthy, and their memory together;
//! - `tenant upgrade` to another image: one tenant (its bot's downtime is within it), then the fleet.
//!
//! Run: `cargo bench --bench containers` (7 creates, 20 at once), or `cargo bench --bench containers -- 5 40`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bollard::query_parameters::{RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, StatsOptionsBuilder};
use botctl::db::cluster::LocalCluster;
use botctl::telegram::emulator::Emulator;
use futures_util::StreamExt;

const BOT_ID_BASE: i64 = 800_000_000;

fn main() {
    let mut numbers = std::env::args().skip(1).filter_map(|a| a.parse::<usize>().ok());
    let creates = numbers.next().unwrap_or(7);
    let at_once = numbers.next().unwrap_or(20);
    let dir = tempfile::Builder::new().prefix("botctl-bench-containers").tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let tag = format!("botctl-bench:{}", std::process::id());
    let botctl = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_botctl"));
        cmd.env_clear()
            .env("HOME", dir.path())
            .env("BOTCTL_DATA_DIR", dir.path().join("data"))
            .env("BOTCTL_TELEGRAM_API_URL", emulator.url().as_str())
            .env("BOTCTL_DOCKER_IMAGE", &tag)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    };
    let run = |args: &[&str]| assert!(botctl(args).status().unwrap().success(), "botctl {args:?} failed");
    run(&["image", "build", "--tag", &tag]);
    run(&["init", "-q"]);
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let image_size = runtime.block_on(docker.inspect_image(&tag)).unwrap().size.unwrap_or(0);

    let tenant = |i: usize| {
        let token = format!("{}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", BOT_ID_BASE + i as i64);
        emulator.add_bot(&token, BOT_ID_BASE + i as i64, &format!("bench_{i}_bot"));
        (format!("bench{i}"), token)
    };
    let mut create_times: Vec<Duration> = (0..creates)
        .map(|i| {
            let (slug, token) = tenant(i);
            let started = Instant::now();
            run(&["tenant", "create", &slug, "--token", &token, "--admin", "1", "--template", "barbershop"]);
            started.elapsed()
        })
        .collect();
    create_times.sort();
    std::thread::sleep(Duration::from_secs(5));
    let idle = runtime.block_on(memory(&docker, "botctl-bench0"));

    let fleet: Vec<(String, String)> = (creates..creates + at_once).map(tenant).collect();
    for (slug, token) in &fleet {
        run(&["tenant", "create", "--no-start", slug, "--token", token, "--admin", "1", "--template", "barbershop"]);
    }
    let started = Instant::now();
    let children: Vec<_> = fleet.iter().map(|(slug, _)| botctl(&["tenant", "start", slug]).spawn().unwrap()).collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a tenant did not start");
    }
    let all_healthy = started.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    let together: u64 =
        fleet.iter().map(|(slug, _)| runtime.block_on(memory(&docker, &format!("botctl-{slug}")))).sum();

    let next = format!("{tag}-next");
    run(&["image", "build", "--tag", &next]);
    let started = Instant::now();
    run(&["tenant", "upgrade", "bench0", "--image", &next]);
    let upgrade_one = started.elapsed();
    let started = Instant::now();
    run(&["tenant", "upgrade", "--all", "--image", &next, "--jobs", "4"]);
    let upgrade_all = started.elapsed();

    cleanup(&runtime, &docker, &[&tag, &next], creates + at_once, dir.path());
    println!("| measure | value |");
    println!("|---|---|");
    println!("| tenant image | {:.1} MB |", image_size as f64 / 1e6);
    println!(
        "| `tenant create` including the container until healthy (median of {creates}) | {:.2} s (fastest {:.2} s, slowest {:.2} s) |",
        create_times[creates / 2].as_secs_f64(),
        create_times[0].as_secs_f64(),
        create_times[creates - 1].as_secs_f64()
    );
    println!("| idle memory of one tenant container (engine stats) | {:.1} MiB |", idle as f64 / 1048576.0);
    println!(
        "| {at_once} tenants started at once: until all healthy / memory together | {:.1} s / {:.1} MiB |",
        all_healthy.as_secs_f64(),
        together as f64 / 1048576.0
    );
    println!(
        "| `tenant upgrade` of one running tenant (migrate, stop, start, healthy) | {:.2} s |",
        upgrade_one.as_secs_f64()
    );
    println!(
        "| `tenant upgrade --all --jobs 4` of the other {} running tenants | {:.1} s |",
        creates + at_once - 1,
        upgrade_all.as_secs_f64()
    );
}

/// A container's memory as `docker stats` shows it: usage less the page cache it could give back.
async fn memory(docker: &bollard::Docker, name: &str) -> u64 {
    let options = StatsOptionsBuilder::default().stream(false).build();
    let stats = docker.stats(name, Some(options)).next().await.unwrap().unwrap();
    let memory = stats.memory_stats.unwrap();
    let stats = memory.stats.unwrap_or_default();
    let cache = ["inactive_file", "total_inactive_file", "cache"].iter().find_map(|k| stats.get(*k)).copied();
    memory.usage.unwrap_or(0).saturating_sub(cache.unwrap_or(0))
}

fn cleanup(runtime: &tokio::runtime::Runtime, docker: &bollard::Docker, tags: &[&str], tenants: usize, dir: &Path) {
    for i in 0..tenants {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = runtime.block_on(docker.remove_container(&format!("botctl-bench{i}"), Some(options)));
    }
    for tag in tags {
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        let _ = runtime.block_on(docker.remove_image(tag, Some(options), None));
    }
    LocalCluster::new(&dir.join("data"), None).unwrap().stop().unwrap();
}
