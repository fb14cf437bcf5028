//! Broadcast benchmark: one tenant with N customers, a throwaway local cluster, the release `botctl
//! serve` as its own process (Telegram's rate limits on, as in production) and botctl's Bot API
//! emulator. The owner composes and sends a broadcast through the admin panel, as in Telegram; a
//! customer's reminder falls due in the middle of it. Measured by the emulator's arrival clock:
//! - how long the broadcast takes from the Send press to its last message, and its rate;
//! - the most broadcast messages in any one second (Telegram allows a bot about 30);
//! - how late the reminder due mid-broadcast arrives (it must not wait behind the broadcast);
//! - when the author's report arrives after the last message.
//!
//! Run: `cargo bench --bench broadcast`, or `cargo bench --bench broadcast -- customers=2000`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

use std::time::{Duration, SystemTime};

use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::telegram::emulator::{ChatMessage, Emulator, Sent, TgUser};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use common::{bench_tenant, healthy, serve};

const TOKEN: &str = "700000003:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
/// The owner `bench_tenant` names.
const OWNER: i64 = 1;
/// The customer whose reminder falls due mid-broadcast.
const REMINDED: i64 = 42;
/// The broadcast's customers start at this id.
const FIRST: i64 = 5_000_000;
const TEXT: &str = "Bench broadcast: we are open on Sunday.";

fn customers() -> i64 {
    std::env::args()
        .skip(1)
        .find_map(|a| a.strip_prefix("customers=").map(|v| v.parse().expect("customers=N")))
        .unwrap_or(2000)
}

fn main() {
    let customers = customers();
    let dir = tempfile::Builder::new().prefix("botctl-bench-broadcast").tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = LocalCluster::new(dir.path(), None).expect("PostgreSQL server binaries are installed");
    runtime.block_on(cluster.ensure_running(&NoProgress)).unwrap();
    let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
    emulator.add_bot(TOKEN, 700_000_003, "broadcast_bench_bot");
    let (tenant_url, pool) = runtime.block_on(setup(&cluster, &emulator, customers));
    for id in (FIRST..FIRST + customers).chain([REMINDED]) {
        emulator.open_chat(TOKEN, &TgUser::new(id, "Bench"));
    }

    let addr =
        format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let mut child = serve(&tenant_url, TOKEN, &emulator.url(), &addr, true);
    runtime.block_on(healthy(&addr));

    let owner = TgUser::new(OWNER, "Owner");
    let step = |f: &dyn Fn(&ChatMessage) -> bool| newest(&runtime, &emulator, &owner, f);
    emulator.send_text(TOKEN, &owner, "/admin");
    let menu = step(&|m| data(m).iter().any(|d| d == "a:bc:n"));
    emulator.press_button(TOKEN, &owner, menu.message_id, "a:bc:n");
    step(&|m| m.message_id > menu.message_id);
    emulator.send_text(TOKEN, &owner, TEXT);
    let preview = step(&|m| data(m).iter().any(|d| d == "a:bc:s"));
    // The reminder falls due halfway through the broadcast's expected 25 messages a second.
    let halfway = TimeDelta::milliseconds(customers * 20);
    let reminder_due = Utc::now() + halfway;
    runtime.block_on(reminder(&pool, reminder_due));
    let pressed = SystemTime::now();
    emulator.press_button(TOKEN, &owner, preview.message_id, "a:bc:s");

    let is_broadcast = |s: &Sent| {
        s.method == "sendMessage"
            && s.params["chat_id"].as_i64().is_some_and(|c| (FIRST..FIRST + customers).contains(&c))
    };
    let is_report = |s: &Sent| {
        s.method == "sendMessage"
            && s.params["chat_id"] == OWNER
            && s.params["text"].as_str().is_some_and(|t| t.contains("outcome"))
    };
    runtime
        .block_on(emulator.wait_until_sent(
            TOKEN,
            |sent| sent.iter().any(is_report),
            Duration::from_secs(u64::try_from(customers).unwrap() / 10 + 120),
        ))
        .unwrap();
    let sent = emulator.sent(TOKEN);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    runtime.block_on(pool.close());
    cluster.stop().unwrap();

    let arrivals: Vec<SystemTime> = sent.iter().filter(|s| is_broadcast(s)).map(|s| s.at).collect();
    assert_eq!(arrivals.len() as i64, customers, "every customer gets the broadcast once");
    let last = *arrivals.iter().max().unwrap();
    let took = last.duration_since(pressed).unwrap().as_secs_f64();
    let busiest = busiest_second(&arrivals);
    let reminded = sent
        .iter()
        // The reminded customer gets the broadcast too.
        .find(|s| s.method == "sendMessage" && s.params["chat_id"] == REMINDED && s.params["text"] != TEXT)
        .map(|s| (DateTime::<Utc>::from(s.at) - reminder_due).num_milliseconds())
        .expect("the reminder was sent");
    let report = sent.iter().find(|s| is_report(s)).unwrap().at.duration_since(last).unwrap_or_default();

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| broadcast to {customers} customers, Send press → last message | {took:.1} s ({:.1} messages/s) |",
        customers as f64 / took
    );
    println!("| most broadcast messages in any one second | {busiest} |");
    println!("| a reminder due mid-broadcast, due → sent | {reminded} ms |");
    println!("| last message → the author's report | {:.1} s |", report.as_secs_f64());
}

/// The bench tenant with `customers` customers, and one more with a booking far ahead for the reminder.
async fn setup(cluster: &LocalCluster, emulator: &Emulator, customers: i64) -> (String, PgPool) {
    let (admin, url) = bench_tenant(cluster, TOKEN, emulator.url()).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN;
         SET LOCAL search_path TO tenant_bench;
         INSERT INTO customers (user_id, first_name) VALUES ({OWNER}, 'Owner'), ({REMINDED}, 'Reminded');
         INSERT INTO customers (user_id, first_name)
             SELECT {FIRST} + n, 'Customer ' || n FROM generate_series(0, {customers} - 1) n;
         INSERT INTO bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at)
             SELECT {REMINDED}, id, name, price_minor, now() + interval '30 days', now() + interval '30 days 1 hour'
             FROM services ORDER BY position LIMIT 1;
         COMMIT;"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let pool = PgPool::connect(&url).await.unwrap();
    (url, pool)
}

/// A reminder for the far-ahead booking, due at `due`.
async fn reminder(pool: &PgPool, due: DateTime<Utc>) {
    sqlx::query(
        "INSERT INTO outbox (kind, recipient, booking_id, params, due_at, expires_at, dedupe_key) \
         SELECT 'reminder', customer_id, id, '{\"offset_minutes\": 60}', $1, starts_at, 'bench-reminder' FROM bookings",
    )
    .bind(due)
    .execute(pool)
    .await
    .unwrap();
}

/// The most arrivals within any one second.
fn busiest_second(arrivals: &[SystemTime]) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    let mut most = 0;
    let mut first = 0;
    for (i, at) in sorted.iter().enumerate() {
        while at.duration_since(sorted[first]).unwrap() >= Duration::from_secs(1) {
            first += 1;
        }
        most = most.max(i + 1 - first);
    }
    most
}

fn data(m: &ChatMessage) -> Vec<String> {
    m.callbacks("")
}

/// Waits for the owner's newest bot message to satisfy `f`.
fn newest(
    runtime: &tokio::runtime::Runtime,
    emulator: &Emulator,
    owner: &TgUser,
    f: &dyn Fn(&ChatMessage) -> bool,
) -> ChatMessage {
    let last = |chat: &[ChatMessage]| chat.iter().rev().find(|m| m.from_bot && !m.deleted).cloned();
    let chat = runtime
        .block_on(emulator.wait_until(
            TOKEN,
            owner.id,
            |chat| last(chat).is_some_and(|m| f(&m)),
            Duration::from_secs(30),
        ))
        .unwrap();
    last(&chat).unwrap()
}
