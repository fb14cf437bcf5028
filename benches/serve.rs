//! `botctl serve` benchmarks: the release binary as its own process against a throwaway local cluster
//! and botctl's Bot API emulator, measuring
//! - startup to healthy (spawn → `/healthz` 200);
//! - idle RSS;
//! - updates per second through the full booking flow (/start, menu, service, day, time, confirm) with
//!   many customers at once, and RSS under that load;
//! - handler latency p50/p99 from the daemon's own `/metrics` histogram.
//!
//! Run: `cargo bench --bench serve` (400 customers), or `cargo bench --bench serve -- 1000`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use botctl::config::template::{self, Locale};
use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::telegram::emulator::{ChatMessage, Emulator, TgUser};
use botctl::tenant::ops::{self, CreateOptions};

const TOKEN: &str = "700000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
/// Steps a customer takes, each one update: /start, "Book", service, day, time, confirm.
const STEPS: usize = 6;
/// The daemon's per-user flood limit is 0.1 s at its lowest; customers pace themselves just above it.
const PACE: Duration = Duration::from_millis(110);

fn main() {
    let customers: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(400);
    let dir = tempfile::Builder::new().prefix("botctl-bench-serve").tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = LocalCluster::new(dir.path(), None).expect("PostgreSQL server binaries are installed");
    runtime.block_on(cluster.ensure_running(&NoProgress)).unwrap();
    let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    emulator.add_bot(TOKEN, 700_000_001, "bench_bot");
    let tenant_url = runtime.block_on(setup(&cluster, &emulator));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = spawn(&tenant_url, &emulator, &addr);
    let healthy = runtime.block_on(async {
        let client = reqwest::Client::new();
        loop {
            if client.get(format!("http://{addr}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                break started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "serve never became healthy");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(child.id());

    let load_started = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let booked = runtime.block_on(drive(&emulator, customers));
    let elapsed = load_started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_rss = sampler.join().unwrap();
    let metrics =
        runtime.block_on(async { reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap() });
    let (p50, p99) = quantiles(&metrics);

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    cluster.stop().unwrap();

    let updates = customers * STEPS;
    println!("| measure | value |");
    println!("|---|---|");
    println!("| startup to healthy | {:.0} ms |", healthy.as_secs_f64() * 1000.0);
    println!("| idle RSS | {:.1} MiB |", idle as f64 / 1024.0);
    println!(
        "| booking flow, {customers} customers at once ({updates} updates) | {:.0} updates/s ({booked} booked in {:.1} s) |",
        updates as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!("| RSS under that load (peak) | {:.1} MiB |", peak_rss as f64 / 1024.0);
    println!("| handler latency p50 / p99 (histogram bucket bounds) | ≤ {p50} / ≤ {p99} |");
}

/// Control schema, a barbershop tenant without the phone step and with the lowest flood limits, and
/// the tenant role's URL.
async fn setup(cluster: &LocalCluster, emulator: &Emulator) -> String {
    let pool = sqlx::PgPool::connect_with(cluster.connect_options()).await.unwrap();
    botctl::db::control::init(&pool).await.unwrap();
    let create = CreateOptions {
        slug: "bench".parse().unwrap(),
        token: TOKEN.parse().unwrap(),
        admins: vec![1],
        timezone: chrono_tz::Europe::Moscow,
        locale: Locale::En,
        display_name: None,
        template: template::embedded("barbershop", Locale::En).unwrap(),
        telegram_api_url: emulator.url(),
    };
    ops::create(&pool, &create, "bench", &NoProgress).await.unwrap();
    sqlx::raw_sql(
        "UPDATE tenant_bench.settings SET ask_phone = false, flood_message_seconds = 0.1, flood_button_seconds = 0.1, \
         max_active_bookings = 20, horizon_days = 365; ALTER ROLE tenant_bench PASSWORD 'bench-pw'",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut url = url::Url::parse(&cluster.url()).unwrap();
    url.set_username("tenant_bench").unwrap();
    url.set_password(Some("bench-pw")).unwrap();
    url.to_string()
}

fn spawn(tenant_url: &str, emulator: &Emulator, addr: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_botctl"))
        .env_clear()
        .env("BOTCTL_TENANT", "bench")
        .env("DATABASE_URL", tenant_url)
        .env("BOT_TOKEN", TOKEN)
        .env("BOTCTL_TELEGRAM_API_URL", emulator.url().as_str())
        .env("BOTCTL_HTTP_ADDR", addr)
        .env("BOTCTL_LOG", "error")
        .arg("serve")
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Every customer books through the whole flow at once; returns how many bookings were made.
async fn drive(emulator: &Emulator, customers: usize) -> usize {
    let flows = (0..customers).map(|i| customer(emulator.clone(), 900_000 + i as i64));
    futures_util::future::join_all(flows).await.into_iter().filter(|booked| *booked).count()
}

/// One customer: each step waits for the bot's answer before the next (as a person must).
async fn customer(emulator: Emulator, id: i64) -> bool {
    let user = TgUser::new(id, "Bench");
    let catalog = botctl::bot::texts::Catalog::defaults(Locale::En);
    let newest = |chat: &[ChatMessage]| chat.iter().rev().find(|m| m.from_bot).cloned();
    let wait_for = |prefix: &'static str| {
        let emulator = emulator.clone();
        async move {
            let chat = emulator
                .wait_until(
                    TOKEN,
                    id,
                    |chat| newest(chat).is_some_and(|m| !m.callbacks(prefix).is_empty()),
                    Duration::from_secs(60),
                )
                .await
                .ok()?;
            newest(&chat)
        }
    };
    emulator.send_text(TOKEN, &user, "/start");
    if emulator.wait_until(TOKEN, id, |chat| newest(chat).is_some(), Duration::from_secs(60)).await.is_err() {
        return false;
    }
    tokio::time::sleep(PACE).await;
    emulator.send_text(TOKEN, &user, catalog.raw(botctl::bot::texts::Text::MenuBook));
    for prefix in ["s:", "d:", "t:", "c:"] {
        let Some(message) = wait_for(prefix).await else { return false };
        let choices = message.callbacks(prefix);
        // Customers spread over services, days and times (a different mix at every step), so that most
        // bookings succeed.
        let mix = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(prefix.as_bytes()[0].into());
        let choice = &choices[(mix % choices.len() as u64) as usize];
        tokio::time::sleep(PACE).await;
        emulator.press_button(TOKEN, &user, message.message_id, choice);
    }
    // The card loses its confirm button either way: booked, or the slot went to someone faster.
    let settled = |chat: &[ChatMessage]| newest(chat).is_some_and(|m| m.callbacks("c:").is_empty());
    let Ok(chat) = emulator.wait_until(TOKEN, id, settled, Duration::from_secs(60)).await else { return false };
    newest(&chat).and_then(|m| m.text).is_some_and(|t| t.contains("booked"))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The upper bounds of the buckets holding the 50th and 99th percentile of `botctl_handler_seconds`.
fn quantiles(metrics: &str) -> (String, String) {
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|l| l.starts_with("botctl_handler_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? }, count))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |b| b.1);
    let at = |q: f64| {
        buckets.iter().find(|(_, count)| *count >= q * total).map_or("?".to_string(), |(le, _)| {
            if le.is_finite() { format!("{:.1} ms", le * 1000.0) } else { "∞".into() }
        })
    };
    (at(0.5), at(0.99))
}
