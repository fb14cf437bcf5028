//! Outbox benchmarks: one tenant holding 100,000 pending rows, a throwaway local cluster, the release
//! `botctl serve` as its own process (with Telegram's rate limits on, as in production) and botctl's
//! Bot API emulator, measuring
//! - the claim (the dispatcher's `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)` of up to 32
//!   rows): its plan, and its time with nothing due and with a backlog of 10,000 due rows;
//! - wake-ups while nothing is due: the dispatcher's own counter over a quiet stretch;
//! - delay from due to sent when messages fall due below Telegram's limits: rows due at a steady rate,
//!   each to its own chat, timed by the emulator's arrival clock.
//!
//! Run: `cargo bench --bench outbox`, or `cargo bench --bench outbox -- rows=100000 rate=20 seconds=30 idle=60`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use botctl::bot::outbox::CLAIM;
use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::telegram::emulator::{Emulator, TgUser};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use common::{bench_tenant, counter, healthy, metrics, serve};

const TOKEN: &str = "700000002:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
/// Chats the steady stream writes to start at this id.
const FIRST_CHAT: i64 = 3_000_000;

struct Args {
    rows: i64,
    /// Rows falling due per second in the delay phase (Telegram allows about 30 a second).
    rate: f64,
    seconds: u64,
    /// The quiet stretch in which wake-ups are counted.
    idle: u64,
}

fn args() -> Args {
    let mut args = Args { rows: 100_000, rate: 20.0, seconds: 30, idle: 60 };
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some(("rows", v)) => args.rows = v.parse().expect("rows=N"),
            Some(("rate", v)) => args.rate = v.parse().expect("rate=ROWS_PER_SECOND"),
            Some(("seconds", v)) => args.seconds = v.parse().expect("seconds=N"),
            Some(("idle", v)) => args.idle = v.parse().expect("idle=SECONDS"),
            // cargo bench passes `--bench`.
            _ => {}
        }
    }
    args
}

fn main() {
    let args = args();
    let dir = tempfile::Builder::new().prefix("botctl-bench-outbox").tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = LocalCluster::new(dir.path(), None).expect("PostgreSQL server binaries are installed");
    runtime.block_on(cluster.ensure_running(&NoProgress)).unwrap();
    let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    emulator.add_bot(TOKEN, 700_000_002, "outbox_bench_bot");
    let (tenant_url, pool) = runtime.block_on(setup(&cluster, &emulator, args.rows));

    let (plan, idle_claim) = runtime.block_on(claims(&pool, false));
    let (_, backlog_claim) = runtime.block_on(claims(&pool, true));

    let addr =
        format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let mut child = serve(&tenant_url, TOKEN, &emulator.url(), &addr, true);
    runtime.block_on(healthy(&addr));
    // The chats of the stream start the bot first (Telegram lets a bot write only to those), and their
    // greetings go out before the clock starts.
    let chats = (args.rate * args.seconds as f64) as i64;
    for i in 0..chats {
        emulator.send_text(TOKEN, &TgUser::new(FIRST_CHAT + i, "Bench"), "/start");
    }
    runtime
        .block_on(emulator.wait_until_sent(
            TOKEN,
            |sent| sent.iter().filter(|s| s.method == "sendMessage").count() >= chats as usize,
            Duration::from_secs(120),
        ))
        .unwrap();

    let woken = runtime.block_on(async {
        let before = counter(&metrics(&addr).await, "botctl_outbox_wakeups_total");
        tokio::time::sleep(Duration::from_secs(args.idle)).await;
        counter(&metrics(&addr).await, "botctl_outbox_wakeups_total") - before
    });

    let delays = runtime.block_on(stream(&pool, &emulator, &args, chats));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    runtime.block_on(pool.close());
    cluster.stop().unwrap();

    let at = |q: f64| delays[((delays.len() - 1) as f64 * q) as usize];
    println!("claim plan with {} pending rows:\n{plan}", args.rows);
    println!("| measure | value |");
    println!("|---|---|");
    println!("| one claim, {} pending, none due (median / p99 of 1,000) | {idle_claim} |", args.rows);
    println!(
        "| one claim of 32 rows, {} pending, 10,000 of them due (median / p99 of 1,000) | {backlog_claim} |",
        args.rows
    );
    println!(
        "| dispatcher wake-ups in {} s with {} rows pending, none due within the hour | {woken} |",
        args.idle, args.rows
    );
    println!(
        "| due → sent, {} rows falling due at {}/s, each to its own chat (p50 / p99 / max) | {:.0} / {:.0} / {:.0} ms |",
        delays.len(),
        args.rate,
        at(0.5),
        at(0.99),
        delays.last().unwrap()
    );
}

/// A barbershop tenant with one booking far ahead, whose customer and `rows` pending messages (due
/// from an hour on) fill the outbox; returns the tenant role's URL and a pool on it.
async fn setup(cluster: &LocalCluster, emulator: &Emulator, rows: i64) -> (String, PgPool) {
    let (admin, url) = bench_tenant(cluster, TOKEN, emulator.url()).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN;
         SET LOCAL search_path TO tenant_bench;
         INSERT INTO customers (user_id, first_name) VALUES (42, 'Bench');
         INSERT INTO bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at)
             SELECT 42, id, name, price_minor, now() + interval '300 days', now() + interval '300 days 1 hour'
             FROM services ORDER BY position LIMIT 1;
         INSERT INTO outbox (kind, recipient, booking_id, due_at, expires_at, dedupe_key)
             SELECT 'admin_booked', 42, (SELECT id FROM bookings), now() + interval '1 hour' + n * interval '20 seconds',
                    now() + interval '400 days', 'bench:' || n
             FROM generate_series(1, {rows}) n;
         ANALYZE outbox;
         COMMIT;"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let pool = PgPool::connect(&url).await.unwrap();
    (url, pool)
}

/// The claim's plan and its time (median / p99 of 1,000, each in its own rolled-back transaction);
/// with `backlog`, 10,000 rows are made due for the measurement and put back after.
async fn claims(pool: &PgPool, backlog: bool) -> (String, String) {
    // The soonest 10,000 rows (due within 56 hours) move 60 days back, so all are due, and return after.
    let shift = |sign: &str, side: &str| {
        format!(
            "UPDATE outbox SET due_at = due_at {sign} interval '60 days' WHERE id IN \
             (SELECT id FROM outbox WHERE state = 'pending' AND due_at {side} now() ORDER BY due_at LIMIT 10000)"
        )
    };
    if backlog {
        sqlx::query(sqlx::AssertSqlSafe(shift("-", ">"))).execute(pool).await.unwrap();
    }
    let now = Utc::now();
    let explain = format!(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {}",
        CLAIM.replace("$1", "now()").replace("$2", "1").replace("$3", "interval '2 minutes'").replace("$4", "32")
    );
    let mut tx = pool.begin().await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(explain)).fetch_all(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    let mut times = Vec::new();
    for _ in 0..1000 {
        let mut tx = pool.begin().await.unwrap();
        let started = Instant::now();
        let claimed = sqlx::query(CLAIM)
            .bind(now)
            .bind(1)
            .bind(TimeDelta::minutes(2))
            .bind(32_i64)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        times.push(started.elapsed());
        assert_eq!(claimed.len(), if backlog { 32 } else { 0 });
        tx.rollback().await.unwrap();
    }
    if backlog {
        sqlx::query(sqlx::AssertSqlSafe(shift("+", "<"))).execute(pool).await.unwrap();
    }
    times.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    (plan.join("\n"), format!("{:.0} / {:.0} µs", micros(times[500]), micros(times[989])))
}

/// Rows due at a steady rate from two seconds on, each to its own chat; returns each one's delay from
/// due to the emulator receiving it, in milliseconds, sorted.
async fn stream(pool: &PgPool, emulator: &Emulator, args: &Args, chats: i64) -> Vec<f64> {
    let start = Utc::now() + TimeDelta::seconds(2);
    let every = TimeDelta::microseconds((1e6 / args.rate) as i64);
    let due: Vec<DateTime<Utc>> = (0..chats).map(|i| start + every * i32::try_from(i).unwrap()).collect();
    let recipients: Vec<i64> = (0..chats).map(|i| FIRST_CHAT + i).collect();
    let keys: Vec<String> = (0..chats).map(|i| format!("stream:{i}")).collect();
    sqlx::query(
        "INSERT INTO outbox (kind, recipient, booking_id, due_at, expires_at, dedupe_key) \
         SELECT 'admin_booked', r, (SELECT id FROM bookings), d, d + interval '1 day', k \
         FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS t(r, d, k)",
    )
    .bind(&recipients)
    .bind(&due)
    .bind(&keys)
    .execute(pool)
    .await
    .unwrap();
    let greetings = chats as usize;
    emulator
        .wait_until_sent(
            TOKEN,
            |sent| sent.iter().filter(|s| s.method == "sendMessage").count() >= greetings + chats as usize,
            Duration::from_secs(args.seconds + 120),
        )
        .await
        .unwrap();
    let arrivals: Vec<(i64, SystemTime)> = emulator
        .sent(TOKEN)
        .into_iter()
        .filter(|s| s.method == "sendMessage")
        .skip(greetings)
        .filter_map(|s| Some((s.params.get("chat_id")?.as_i64()?, s.at)))
        .collect();
    let mut delays: Vec<f64> = arrivals
        .into_iter()
        .map(|(chat, at)| {
            let due = due[usize::try_from(chat - FIRST_CHAT).unwrap()];
            (DateTime::<Utc>::from(at) - due).num_microseconds().unwrap() as f64 / 1000.0
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    delays
}
