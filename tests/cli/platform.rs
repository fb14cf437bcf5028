//! The subscription clock against real PostgreSQL with the time in the test's hand (the library's
//! `advance(pool, now, …)`), its notices sent by the tenant bot's own outbox, and `botctl platform serve`
//! as processes: one leader, one standby that takes over after a `kill -9`, SIGTERM ending cleanly.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use botctl::billing::State;
use botctl::billing::clock::{self, Advanced, ClockOptions};
use botctl::billing::notice::NoticeOptions;
use botctl::bot::outbox::Dispatcher;
use botctl::bot::texts::{Catalog, LiveCatalog};
use botctl::locale::Locale;
use botctl::telegram::emulator::TgUser;
use botctl::telegram::runtime::health::Health;
use botctl::telegram::runtime::sender::TgBot;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::{block_on, token};
use crate::tenant::{BOT_A, Fixture};

const GRACE: TimeDelta = TimeDelta::days(3);

fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 10, 9, 0, 0).unwrap()
}

struct Clock {
    f: Fixture,
    slug: String,
    pool: PgPool,
    options: ClockOptions,
}

impl Clock {
    /// A tenant on a trial that ends at `end()`.
    fn new() -> Self {
        let f = Fixture::new();
        let slug = f.create(BOT_A);
        let pool = block_on(PgPool::connect(&f.db.url())).unwrap();
        block_on(
            sqlx::query(
                "INSERT INTO botctl.subscriptions (tenant_id, state, paid_until) \
                 SELECT id, 'trial', $2 FROM botctl.tenants WHERE slug = $1 \
                 ON CONFLICT (tenant_id) DO UPDATE SET state = 'trial', paid_until = $2, grace_until = NULL",
            )
            .bind(&slug)
            .bind(end())
            .execute(&pool),
        )
        .unwrap();
        let options = ClockOptions {
            grace: GRACE.to_std().unwrap(),
            notices: NoticeOptions {
                contact: Some("@platform_support".into()),
                renew_url: Some("https://pay.example/renew".parse().unwrap()),
            },
            actor: "platform:test".into(),
        };
        Self { f, slug, pool, options }
    }

    fn advance(&self, now: DateTime<Utc>) -> Advanced {
        block_on(clock::advance(&crate::support::servers(&self.pool), now, &self.options)).unwrap()
    }

    fn state(&self) -> (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        block_on(
            sqlx::query_as(
                "SELECT s.state, s.paid_until, s.grace_until FROM botctl.subscriptions s \
                 JOIN botctl.tenants t ON t.id = s.tenant_id WHERE t.slug = $1",
            )
            .bind(&self.slug)
            .fetch_one(&self.pool),
        )
        .unwrap()
    }

    fn events(&self) -> Vec<String> {
        block_on(
            sqlx::query_scalar(
                "SELECT action FROM botctl.events WHERE tenant = $1 AND action LIKE 'billing.%' ORDER BY id",
            )
            .bind(&self.slug)
            .fetch_all(&self.pool),
        )
        .unwrap()
    }

    fn notices(&self) -> Vec<String> {
        block_on(
            sqlx::query_scalar(
                "SELECT n.kind FROM botctl.billing_notices n JOIN botctl.tenants t ON t.id = n.tenant_id \
                 WHERE t.slug = $1 ORDER BY n.sent_at, n.kind",
            )
            .bind(&self.slug)
            .fetch_all(&self.pool),
        )
        .unwrap()
    }

    /// The tenant outbox's billing rows: (recipient, notice).
    fn outbox(&self) -> Vec<(i64, String)> {
        let sql = format!(
            "SELECT recipient, params->>'notice' FROM tenant_{}.outbox WHERE kind = 'billing' ORDER BY id",
            self.slug
        );
        block_on(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool)).unwrap()
    }
}

#[test]
fn a_trial_enters_grace_then_suspension_each_at_its_instant_and_once() {
    let c = Clock::new();
    assert!(c.advance(end() - TimeDelta::seconds(1)).changes.is_empty(), "nothing changes a second early");
    assert_eq!(c.state().0, "trial");
    assert_eq!(block_on(clock::next_due(&c.pool, end() - TimeDelta::seconds(1))).unwrap(), Some(end()));

    let at_end = c.advance(end());
    assert_eq!(at_end.changes.len(), 1, "{at_end:?}");
    assert_eq!((at_end.changes[0].from, at_end.changes[0].to), (State::Trial, State::Grace));
    assert_eq!(c.state(), ("grace".to_string(), Some(end()), Some(end() + GRACE)));
    assert!(c.advance(end()).changes.is_empty(), "the same instant twice changes nothing twice");
    assert_eq!(block_on(clock::next_due(&c.pool, end())).unwrap(), Some(end() + GRACE));

    assert!(c.advance(end() + GRACE - TimeDelta::seconds(1)).changes.is_empty());
    let suspended = c.advance(end() + GRACE);
    assert_eq!(suspended.changes.len(), 1);
    assert_eq!((suspended.changes[0].to, suspended.changes[0].due_at), (State::Suspended, end() + GRACE));
    assert!(c.advance(end() + GRACE + TimeDelta::days(30)).changes.is_empty());
    assert_eq!(c.state().0, "suspended");
    assert_eq!(c.events(), ["billing.grace", "billing.suspend"]);
    assert_eq!(block_on(clock::next_due(&c.pool, end() + GRACE)).unwrap(), None, "nothing more is due");
}

#[test]
fn two_clocks_at_once_make_each_change_once_and_a_clock_far_behind_makes_both() {
    let c = Clock::new();
    let late = end() + GRACE + TimeDelta::hours(1);
    let servers = crate::support::servers(&c.pool);
    let (a, b) = block_on(async {
        tokio::join!(clock::advance(&servers, late, &c.options), clock::advance(&servers, late, &c.options))
    });
    let changes: Vec<_> = a.unwrap().changes.into_iter().chain(b.unwrap().changes).collect();
    let made: Vec<(State, DateTime<Utc>)> = changes.iter().map(|c| (c.to, c.due_at)).collect();
    assert_eq!(made.len(), 2, "{changes:?}");
    assert!(made.contains(&(State::Grace, end())) && made.contains(&(State::Suspended, end() + GRACE)), "{made:?}");
    assert_eq!(c.events(), ["billing.grace", "billing.suspend"]);
    assert_eq!(c.notices(), ["grace", "suspended"]);
}

#[test]
fn notices_go_once_each_across_restarts_and_reach_the_owners_through_the_bot() {
    let c = Clock::new();
    assert_eq!(c.advance(end() - TimeDelta::days(8)).notices, 0, "nothing eight days before");
    assert_eq!(c.advance(end() - TimeDelta::days(7)).notices, 1);
    assert_eq!(c.advance(end() - TimeDelta::days(7)).notices, 0, "the same notice is not written twice");
    // A "restart": a new pool, as a new daemon would have, later in the same week.
    let restarted = Clock { pool: block_on(PgPool::connect(&c.f.db.url())).unwrap(), ..c };
    let c = restarted;
    assert_eq!(c.advance(end() - TimeDelta::days(5)).notices, 0);
    assert_eq!(c.advance(end() - TimeDelta::days(3)).notices, 1);
    assert_eq!(c.advance(end() - TimeDelta::hours(20)).notices, 1);
    assert_eq!(c.advance(end() - TimeDelta::hours(1)).notices, 0);
    assert_eq!(c.advance(end()).notices, 1, "grace is told when it begins");
    assert_eq!(c.advance(end() + GRACE).notices, 1, "and suspension when it comes");
    assert_eq!(c.advance(end() + GRACE + TimeDelta::days(1)).notices, 0);
    assert_eq!(c.notices(), ["ends_in_7d", "ends_in_3d", "ends_in_1d", "grace", "suspended"]);
    // Each owner (1001 and 1002) gets each notice once.
    let rows = c.outbox();
    assert_eq!(rows.len(), 10, "{rows:?}");
    for owner in [1001, 1002] {
        let theirs: Vec<&str> = rows.iter().filter(|(r, _)| *r == owner).map(|(_, n)| n.as_str()).collect();
        assert_eq!(theirs, ["ends_in_7d", "ends_in_3d", "ends_in_1d", "grace", "suspended"]);
    }

    // The bot sends them with the date, the contact and the renewal link, in the business's words
    // for nothing: these texts are the platform's.
    let owner = TgUser::new(1001, "Owner");
    c.f.emulator.send_text(&token(BOT_A), &owner, "/start");
    let url = c.f.tenant_url(&c.slug);
    let tenant_pool = block_on(sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&url)).unwrap();
    // All due at once, eight days before the end: each says its own lead ("in 7 days", …), never more.
    let early = end() - TimeDelta::days(8);
    block_on(sqlx::query("UPDATE outbox SET due_at = $1").bind(early).execute(&tenant_pool)).unwrap();
    let bot = teloxide::Bot::new(token(BOT_A)).set_api_url(c.f.emulator.url());
    let health = Health::new(tenant_pool.clone(), Duration::from_secs(60));
    let dispatcher = Dispatcher::new(
        tenant_pool.clone(),
        TgBot::new(bot, false),
        LiveCatalog::new(Catalog::defaults(Locale::Ru).clone()),
        Arc::clone(&health),
        CancellationToken::new(),
    );
    let tick = block_on(dispatcher.tick(early)).unwrap();
    assert_eq!(tick.sent + tick.failed, 10, "{tick:?}");
    let said: Vec<String> =
        c.f.emulator.chat(&token(BOT_A), owner.id).into_iter().filter(|m| m.from_bot).filter_map(|m| m.text).collect();
    let billing: Vec<&String> = said.iter().filter(|t| t.contains("@platform_support")).collect();
    assert_eq!(billing.len(), 5, "{said:#?}");
    // Sent in one tick, so in any order.
    let one = |what: &[&str]| billing.iter().filter(|t| what.iter().all(|w| t.contains(w))).count();
    assert_eq!(one(&["Подписка бота заканчивается через 7 дней", "10 марта", "https://pay.example/renew"]), 1);
    assert_eq!(one(&["Подписка бота заканчивается через 3 дня", "10 марта"]), 1);
    assert_eq!(one(&["Подписка бота заканчивается через 1 день", "10 марта"]), 1);
    assert_eq!(one(&["Подписка бота закончилась", "Бот работает до", "13 марта"]), 1);
    assert_eq!(one(&["Бот остановлен", "13 марта", "сохранены"]), 1);
}

/// A free loopback port for a daemon's listener.
fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The daemon's /healthz role, or `None` while it does not answer.
fn role(addr: std::net::SocketAddr) -> Option<String> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1)?).ok()?;
    body["role"].as_str().map(str::to_string)
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn two_daemons_one_leads_the_other_takes_over_after_a_kill_and_sigterm_ends_cleanly() {
    let f = Fixture::new();
    // Money in the ledger, for `/metrics`: two payments, the second refunded.
    let slug = f.create(BOT_A);
    let credit = |reference: &str| {
        f.botctl()
            .args(["billing", "credit", &slug, "--plan", "1m", "--amount", "299RUB", "--reference", reference])
            .assert()
            .success();
    };
    credit("metrics-1");
    credit("metrics-2");
    f.botctl().args(["billing", "refund", "metrics-2", "--yes"]).assert().success();
    let spawn = |addr: std::net::SocketAddr| {
        f.process()
            .args(["platform", "serve"])
            .env("BOTCTL_PLATFORM_LISTEN", addr.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(f.sandbox.path().join(format!("{}.log", addr.port()))).unwrap())
            .spawn()
            .unwrap()
    };
    let (addr_a, addr_b) = (free_port(), free_port());
    let mut a = spawn(addr_a);
    let log = |addr: std::net::SocketAddr| {
        std::fs::read_to_string(f.sandbox.path().join(format!("{}.log", addr.port()))).unwrap_or_default()
    };
    assert!(f.eventually(|| role(addr_a).as_deref() == Some("leader")), "the first daemon never led: {}", log(addr_a));
    let mut b = spawn(addr_b);
    assert!(f.eventually(|| role(addr_b).as_deref() == Some("standby")), "the second daemon is no standby");
    assert_eq!(role(addr_a).as_deref(), Some("leader"), "one leader at a time");

    let metrics = http_get(addr_a, "/metrics");
    assert!(metrics.contains("botctl_platform_tenants{state=\"complimentary\"}"), "{metrics}");
    assert!(metrics.contains("botctl_platform_clock_lag_seconds 0"), "{metrics}");
    assert!(metrics.contains("botctl_platform_revenue_minor{currency=\"RUB\"} 29900"), "{metrics}");

    kill(Pid::from_raw(a.id() as i32), Signal::SIGKILL).unwrap();
    a.wait().unwrap();
    assert!(f.eventually(|| role(addr_b).as_deref() == Some("leader")), "the standby never took over");

    kill(Pid::from_raw(b.id() as i32), Signal::SIGTERM).unwrap();
    let status = b.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM ends the daemon cleanly");
    let held: i64 =
        f.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid::bigint = 1818326118");
    assert_eq!(held, 0, "the lease is released");
}
