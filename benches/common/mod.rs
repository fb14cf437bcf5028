//! What the benchmarks share: barbershop tenants made through the library, and reading `botctl
//! serve`'s Prometheus counters. Each benchmark uses only some of it.
#![allow(dead_code)]

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
    ops::create(&pool, &barbershop("bench", token, Locale::En, api), "bench", &NoProgress).await.unwrap();
    sqlx::query("ALTER ROLE tenant_bench PASSWORD 'bench-pw'").execute(&pool).await.unwrap();
    let mut url = url::Url::parse(&cluster.url()).unwrap();
    url.set_username("tenant_bench").unwrap();
    url.set_password(Some("bench-pw")).unwrap();
    (pool, url.to_string())
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
