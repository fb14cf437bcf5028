//! `botctl serve` benchmarks: the release binary as its own process against a throwaway local cluster
//! and botctl's Bot API emulator (which enforces no rate limits, so serve runs with
//! `BOTCTL_TELEGRAM_RATE_LIMITS=false`), measuring
//! - startup to healthy (spawn → `/healthz` 200) and idle RSS;
//! - steady load: customers arrive at a fixed rate for a while, each going through the whole booking
//!   flow (/start, "Book", service, a few months forward, day, time, confirm) at a person's pace;
//!   the daemon's own counters give updates per second and the handler latency p50/p99;
//! - a burst: many customers at once, updates per second until all are done, and the peak RSS.
//!
//! Run: `cargo bench --bench serve`, or with other figures:
//! `cargo bench --bench serve -- rate=1500 seconds=10 burst=1000`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use botctl::bot::texts::{Catalog, Text};
use botctl::config::template::Locale;
use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::telegram::emulator::{ChatMessage, Emulator, TgUser};

use common::{bench_tenant, counter, metrics, serve};

const TOKEN: &str = "700000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
/// The daemon's per-user flood limit is 0.1 s at its lowest; customers pace themselves just above it.
const PACE: Duration = Duration::from_millis(110);
/// A customer turns the calendar 0 to 11 months forward (5.5 on average): bookings spread over the
/// year, as they must for thousands of customers to find free time at one barber's.
const MONTHS: u64 = 12;
/// Updates per customer on average: six steps and the months turned.
const UPDATES_PER_CUSTOMER: f64 = 6.0 + (MONTHS - 1) as f64 / 2.0;
const WAIT: Duration = Duration::from_secs(60);

struct Args {
    /// Updates per second offered in the steady phase.
    rate: f64,
    seconds: u64,
    /// Customers at once in the burst.
    burst: usize,
}

fn args() -> Args {
    let mut args = Args { rate: 1200.0, seconds: 10, burst: 400 };
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some(("rate", v)) => args.rate = v.parse().expect("rate=UPDATES_PER_SECOND"),
            Some(("seconds", v)) => args.seconds = v.parse().expect("seconds=N"),
            Some(("burst", v)) => args.burst = v.parse().expect("burst=CUSTOMERS"),
            // cargo bench passes `--bench`.
            _ => {}
        }
    }
    args
}

fn main() {
    let args = args();
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
    let mut child = serve(&tenant_url, TOKEN, &emulator.url(), &addr, false);
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

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let steady = runtime.block_on(steady(&emulator, &addr, &args));
    let burst_started = Instant::now();
    let flows = (0..args.burst).map(|i| customer(emulator.clone(), 2_000_000 + i as i64));
    let outcomes = runtime.block_on(futures_util::future::join_all(flows));
    let burst_elapsed = burst_started.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak_rss = sampler.join().unwrap();

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    cluster.stop().unwrap();

    let burst_updates: usize = outcomes.iter().map(|o| o.updates).sum();
    let burst_booked = outcomes.iter().filter(|o| o.booked).count();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| startup to healthy | {:.0} ms |", healthy.as_secs_f64() * 1000.0);
    println!("| idle RSS | {:.1} MiB |", idle as f64 / 1024.0);
    println!(
        "| steady load: {} updates/s offered for {} s ({} customers, {} booked) | {:.0} updates/s handled |",
        args.rate, args.seconds, steady.customers, steady.booked, steady.handled_per_second
    );
    println!(
        "| handler latency p50 / p99 under that load (histogram bucket bounds) | ≤ {} / ≤ {} |",
        steady.p50, steady.p99
    );
    println!(
        "| burst: {} customers at once ({burst_updates} updates, {burst_booked} booked) | {:.0} updates/s ({:.1} s) |",
        args.burst,
        burst_updates as f64 / burst_elapsed.as_secs_f64(),
        burst_elapsed.as_secs_f64()
    );
    println!("| RSS under load (peak of both) | {:.1} MiB |", peak_rss as f64 / 1024.0);
}

/// A barbershop tenant without the phone step, with the lowest flood limits, the longest horizon and
/// the most bookings per customer; returns the tenant role's URL.
async fn setup(cluster: &LocalCluster, emulator: &Emulator) -> String {
    let (pool, url) = bench_tenant(cluster, TOKEN, emulator.url()).await;
    sqlx::query(
        "UPDATE tenant_bench.settings SET ask_phone = false, flood_message_seconds = 0.1, flood_button_seconds = 0.1, \
         max_active_bookings = 20, horizon_days = 365",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    url
}

struct Steady {
    customers: usize,
    booked: usize,
    handled_per_second: f64,
    p50: String,
    p99: String,
}

/// Customers arrive at the rate that offers `args.rate` updates a second. The daemon's own counters are
/// read once the load has built up (after one customer's flow) and again at the end of the arrivals.
async fn steady(emulator: &Emulator, addr: &str, args: &Args) -> Steady {
    let every = Duration::from_secs_f64(UPDATES_PER_CUSTOMER / args.rate);
    let arrivals = (args.seconds as f64 / every.as_secs_f64()) as usize;
    let warm_up = Duration::from_secs(2).min(Duration::from_secs(args.seconds) / 2);
    let start = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(every);
    let mut customers = Vec::with_capacity(arrivals);
    let mut before = None;
    for i in 0..arrivals {
        ticker.tick().await;
        if before.is_none() && start.elapsed() >= warm_up {
            before = Some((Instant::now(), metrics(addr).await));
        }
        customers.push(tokio::spawn(customer(emulator.clone(), 1_000_000 + i as i64)));
    }
    let (from, before) = before.unwrap();
    let after = metrics(addr).await;
    let seconds = from.elapsed().as_secs_f64();
    let mut booked = 0;
    for c in customers {
        booked += usize::from(c.await.unwrap().booked);
    }
    let delta: Vec<(f64, f64)> =
        buckets(&after).into_iter().zip(buckets(&before)).map(|(a, b)| (a.0, a.1 - b.1)).collect();
    Steady {
        customers: arrivals,
        booked,
        handled_per_second: (counter(&after, "botctl_updates_total") - counter(&before, "botctl_updates_total"))
            / seconds,
        p50: quantile(&delta, 0.5),
        p99: quantile(&delta, 0.99),
    }
}

struct Outcome {
    updates: usize,
    booked: bool,
}

/// One customer through the booking flow; each step waits for the bot's answer and a person's pause.
/// A customer who finds the chosen time gone stops there, as the bot's answer says.
async fn customer(emulator: Emulator, id: i64) -> Outcome {
    let user = TgUser::new(id, "Bench");
    let catalog = Catalog::defaults(Locale::En);
    let mut outcome = Outcome { updates: 0, booked: false };
    let newest = |chat: &[ChatMessage]| chat.iter().rev().find(|m| m.from_bot).cloned();
    let newest_id = || newest(&emulator.chat(TOKEN, id)).map_or(0, |m| m.message_id);
    let mix = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);

    for text in ["/start", catalog.raw(Text::MenuBook)] {
        let before = newest_id();
        emulator.send_text(TOKEN, &user, text);
        outcome.updates += 1;
        let answered = |chat: &[ChatMessage]| newest(chat).is_some_and(|m| m.message_id > before);
        if emulator.wait_until(TOKEN, id, answered, WAIT).await.is_err() {
            return outcome;
        }
        tokio::time::sleep(PACE).await;
    }
    let months = mix % MONTHS;
    let steps = ["s:"].into_iter().chain((0..months).map(|_| "m:")).chain(["d:", "t:", "c:"]);
    for (step, prefix) in steps.enumerate() {
        let Some(message) = newest(&emulator.chat(TOKEN, id)) else { return outcome };
        let choices = message.callbacks(prefix);
        let choice = match prefix {
            // The last navigation button is the next month.
            "m:" => choices.last(),
            // Spread over services, days and times (a different mix at every step).
            _ => choices.get((mix.rotate_left(step as u32 * 7) % choices.len().max(1) as u64) as usize),
        };
        let Some(choice) = choice else { return outcome };
        let query = emulator.press_button(TOKEN, &user, message.message_id, choice);
        outcome.updates += 1;
        if emulator.wait_answered(TOKEN, &query, WAIT).await.is_err() {
            return outcome;
        }
        tokio::time::sleep(PACE).await;
    }
    outcome.booked = newest(&emulator.chat(TOKEN, id)).and_then(|m| m.text).is_some_and(|t| t.contains("booked"));
    outcome
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `botctl_handler_seconds` as (upper bound, cumulative count) pairs.
fn buckets(metrics: &str) -> Vec<(f64, f64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("botctl_handler_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? }, count))
        })
        .collect()
}

/// The upper bound of the bucket holding quantile `q`.
fn quantile(buckets: &[(f64, f64)], q: f64) -> String {
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .iter()
        .find(|(_, count)| *count >= q * total)
        .map_or("?".to_string(), |(le, _)| if le.is_finite() { format!("{:.1} ms", le * 1000.0) } else { "∞".into() })
}
