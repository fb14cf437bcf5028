//! Idle tenants' server backends: N `botctl serve` processes against a throwaway local cluster and
//! botctl's Bot API emulator; each is started, answers one `/start` from its owner (so its handlers,
//! dialogue storage and outbox have all used the database), and is then left alone. The backends open
//! for the tenants' roles are counted in `pg_stat_activity` after 30 s and 60 s of idling, and the CPU
//! time the serve processes used between the two (user + system, from /proc) is summed.
//!
//! Run: `cargo bench --bench idle` (N = 1 and 10), or other counts: `cargo bench --bench idle -- 20`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

use std::time::Duration;

use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::telegram::emulator::{Emulator, TgUser};
use sqlx::PgPool;

use common::healthy;

fn token(i: usize) -> (i64, String) {
    let id = 700_000_100 + i as i64;
    (id, format!("{id}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"))
}

/// The CPU time (user + system) process `pid` has used, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's closing parenthesis; utime and stime are the 14th and 15th of all.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // In USER_HZ, which Linux fixes at 100 on x86 and ARM.
    Duration::from_millis(ticks * 10)
}

fn main() {
    let counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![1, 10] } else { counts };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "| serve processes | backends after 30 s idle | after 60 s idle | most held by one tenant | serve CPU 30–60 s idle |"
    );
    println!("|---|---|---|---|---|");
    for n in counts {
        let dir = tempfile::Builder::new().prefix("botctl-bench-idle").tempdir().unwrap();
        let cluster = LocalCluster::new(dir.path(), None).expect("PostgreSQL server binaries are installed");
        runtime.block_on(cluster.ensure_running(&NoProgress)).unwrap();
        let emulator = runtime.block_on(Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
        let pool = runtime.block_on(PgPool::connect_with(cluster.connect_options())).unwrap();
        runtime.block_on(botctl::db::control::init(&pool)).unwrap();
        let mut children = Vec::new();
        for i in 0..n {
            let (id, token) = token(i);
            emulator.add_bot(&token, id, &format!("idle{i}_bot"));
            let url = runtime.block_on(common::tenant(&pool, &cluster, &format!("idle{i}"), &token, emulator.url()));
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let addr = format!("127.0.0.1:{port}");
            let child = common::serve(&url, &token, &emulator.url(), &addr, false);
            runtime.block_on(healthy(&addr));
            // The owner (admin 1 of the barbershop) starts the bot and is answered.
            emulator.send_text(&token, &TgUser::new(1, "Owner"), "/start");
            let answered = |chat: &[botctl::telegram::emulator::ChatMessage]| chat.iter().any(|m| m.from_bot);
            runtime.block_on(emulator.wait_until(&token, 1, answered, Duration::from_secs(30))).unwrap();
            children.push(child);
        }
        let count = |pool: &PgPool| {
            runtime.block_on(async {
                let per_tenant: Vec<i64> = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'tenant\\_%' GROUP BY usename",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                (per_tenant.iter().sum::<i64>(), per_tenant.iter().copied().max().unwrap_or(0))
            })
        };
        let cpu = || children.iter().map(|c| cpu_time(c.id())).sum::<Duration>();
        std::thread::sleep(Duration::from_secs(30));
        let (at_30, _) = count(&pool);
        let (cpu_30, wall_30) = (cpu(), std::time::Instant::now());
        std::thread::sleep(Duration::from_secs(30));
        let (at_60, most) = count(&pool);
        let share = (cpu() - cpu_30).as_secs_f64() / wall_30.elapsed().as_secs_f64() * 100.0;
        println!("| {n} | {at_30} | {at_60} | {most} | {share:.3} % of a core |");
        for mut child in children {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            child.wait().unwrap();
        }
        runtime.block_on(pool.close());
        cluster.stop().unwrap();
    }
}
