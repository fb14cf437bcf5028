//! What the benchmarks share: barbershop tenants made through the library, and reading `botctl
//! serve`'s Prometheus counters. Each benchmark uses only some of it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use botctl::config::template::{self, Locale};
use botctl::db::cluster::LocalCluster;
use botctl::progress::NoProgress;
use botctl::tenant::ops::{self, CreateOptions};
use sqlx::PgPool;

/// A barbershop tenant `slug` for bot `token`, with the template's defaults.
pub fn barbershop(slug: &str, token: &str, locale: Locale, api: url::Url) -> CreateOptions {
    CreateOptions {
        slug: slug.parse().unwrap(),
        token: token.parse().unwrap(),
        admins: vec![1],
        timezone: chrono_tz::Europe::Moscow,
        locale,
        display_name: None,
        template: template::embedded("barbershop", locale).unwrap(),
        memory_mb: None,
        cpus: None,
        telegram_api_url: api,
    }
}

/// The control schema and one English barbershop tenant `bench` in `cluster`, whose role gets the
/// password `bench-pw`; returns the operator's pool and the tenant role's URL.
pub async fn bench_tenant(cluster: &LocalCluster, token: &str, api: url::Url) -> (PgPool, String) {
    let pool = PgPool::connect_with(cluster.connect_options()).await.unwrap();
    botctl::db::control::init(&pool).await.unwrap();
    let url = tenant(&pool, cluster, "bench", token, api).await;
    (pool, url)
}

/// An English barbershop tenant `slug` whose role gets the password `bench-pw`; returns the role's URL.
pub async fn tenant(pool: &PgPool, cluster: &LocalCluster, slug: &str, token: &str, api: url::Url) -> String {
    ops::create(pool, &barbershop(slug, token, Locale::En, api), "bench", &NoProgress).await.unwrap();
    let sql = format!("ALTER ROLE tenant_{slug} PASSWORD 'bench-pw'");
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
    let mut url = url::Url::parse(&cluster.url()).unwrap();
    url.set_username(&format!("tenant_{slug}")).unwrap();
    url.set_password(Some("bench-pw")).unwrap();
    url.to_string()
}

pub async fn metrics(addr: &str) -> String {
    reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap()
}

/// A counter's value in a /metrics text.
pub fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// The benchmark's own `botctl serve` as a process for the tenant `bench`; `rate_limits` off only for a
/// measurement of the bot itself, without Telegram's limits in the way.
pub fn serve(tenant_url: &str, token: &str, api: &url::Url, addr: &str, rate_limits: bool) -> Child {
    Command::new(env!("CARGO_BIN_EXE_botctl"))
        .env_clear()
        .env("BOTCTL_TENANT", "bench")
        .env("DATABASE_URL", tenant_url)
        .env("BOT_TOKEN", token)
        .env("BOTCTL_TELEGRAM_API_URL", api.as_str())
        .env("BOTCTL_TELEGRAM_RATE_LIMITS", rate_limits.to_string())
        .env("BOTCTL_HTTP_ADDR", addr)
        .env("BOTCTL_LOG", "error")
        .arg("serve")
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits until the bot at `addr` answers `/healthz`; returns how long that took.
pub async fn healthy(addr: &str) -> Duration {
    let started = Instant::now();
    let client = reqwest::Client::new();
    while !client.get(format!("http://{addr}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(30), "serve never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}
