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
        server: None,
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
    let servers = botctl::db::servers::Servers::from_pool(pool.clone());
    ops::create(&servers, &barbershop(slug, token, Locale::En, api), "bench", &NoProgress).await.unwrap();
    let sql = format!("ALTER ROLE tenant_{slug} PASSWORD 'bench-pw'");
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
    let mut url = url::Url::parse(&cluster.url()).unwrap();
    url.set_username(&format!("tenant_{slug}")).unwrap();
    url.set_password(Some("bench-pw")).unwrap();
    url.to_string()
}

/// The migration the benchmarks undo and re-apply: a column and an index
/// (`migrations/tenant/0003_services_listing.sql`).
pub const MEASURED_MIGRATION: i64 = 3;

/// `bookings` customers of tenant schema `schema` (quoted) each with a booking an hour apart from
/// tomorrow on, and their reminders in the outbox: the rows the bot would have written, in one
/// transaction on the server `pool` reaches.
pub async fn book(pool: &PgPool, schema: &str, bookings: usize) {
    let sql = format!(
        "BEGIN; SET LOCAL search_path TO {schema};
         INSERT INTO customers (user_id, first_name, phone)
             SELECT 100000 + i, 'Клиент ' || i, '+7900' || lpad(i::text, 7, '0') FROM generate_series(1, {bookings}) i;
         INSERT INTO bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at)
             SELECT 100000 + i, s.id, s.name, s.price_minor,
                    date_trunc('day', now()) + interval '1 day' + i * interval '1 hour',
                    date_trunc('day', now()) + interval '1 day' + i * interval '1 hour' + interval '45 minutes'
             FROM generate_series(1, {bookings}) i, (SELECT * FROM services ORDER BY position LIMIT 1) s;
         INSERT INTO outbox (kind, recipient, booking_id, due_at, expires_at, dedupe_key)
             SELECT 'reminder', customer_id, id, starts_at - interval '2 hours', starts_at, 'reminder:' || id
             FROM bookings;
         COMMIT;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
}

/// Undoes the measured migration in tenant schema `schema` on the server `pool` reaches, so that `migrate`
/// has exactly that one to apply there.
pub async fn undo_measured_migration(pool: &PgPool, schema: &str) {
    let sql = format!(
        "DROP INDEX \"{schema}\".services_listing; ALTER TABLE \"{schema}\".services DROP COLUMN updated_at; \
         DELETE FROM \"{schema}\"._sqlx_migrations WHERE version = {MEASURED_MIGRATION}"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
}

/// Tells the control plane every live tenant is one version behind, as it is once
/// [`undo_measured_migration`] ran on each.
pub async fn mark_behind(control: &PgPool) {
    sqlx::query("UPDATE botctl.tenants SET schema_version = $1 WHERE deleted_at IS NULL")
        .bind(botctl::db::migrate::tenant_latest() - 1)
        .execute(control)
        .await
        .unwrap();
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

/// A Prometheus histogram's buckets in a /metrics text as (upper bound, cumulative count), every
/// series of it added together bucket by bucket (one per bot when several texts are merged).
pub fn histogram(metrics: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in metrics.lines().filter(|l| l.starts_with(&prefix)) {
        let Some(le) = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
        let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::NAN) };
        let Some(count) = line.rsplit(' ').next().and_then(|c| c.parse::<f64>().ok()) else { continue };
        match buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some(bucket) => bucket.1 += count,
            None => buckets.push((bound, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// `after` less `before`, bucket by bucket (the same bounds in the same order).
pub fn histogram_delta(after: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|&(bound, count)| (bound, count - before.iter().find(|b| b.0 == bound).map_or(0.0, |b| b.1)))
        .collect()
}

/// The upper bound of the bucket holding quantile `q`, as the benchmarks print it.
pub fn quantile_bound(buckets: &[(f64, f64)], q: f64) -> String {
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total == 0.0 {
        return "-".into();
    }
    buckets
        .iter()
        .find(|(_, count)| *count >= q * total)
        .map_or("?".to_string(), |(le, _)| if le.is_finite() { format!("≤ {} ms", le * 1000.0) } else { "∞".into() })
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`), or 0 for a process that is gone.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
