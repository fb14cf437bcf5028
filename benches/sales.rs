//! The sales loop (issue 18) on one host, through the real parts in this process — the YooKassa
//! notification listener with `OrderPayments`, the order resumer with its `Fulfiller` (tenant create
//! with the paid start, container start from the locally built tenant image, host networking) — against
//! a throwaway local cluster, the real engine, and botctl's YooKassa and Bot API emulators. The parts
//! run here as `platform serve` runs them, in this process so that each split is read at the parts'
//! own boundaries; only the sales bot's side of the resumer (`Buyers`) is a double.
//! Measured:
//! - payment confirmed → the buyer's bot healthy: an order paid on the emulator's `/pay` page, which
//!   posts the notification to the listener; from the page's request until the new container's own
//!   `/healthz` answers 200, split at the order's `paid` and `credited` transitions (its history) and
//!   the container's start (the engine's `StartedAt`);
//! - the listener's answer time under a steady rate of notifications (each order's, and a duplicate of
//!   each a second later) for orders awaiting payment and paid in the emulator, posted by this process
//!   open-loop; and that every order was paid exactly once, counted in the database.
//!
//! Whatever this made — containers of its installation, the image tag, the cluster — is removed at the
//! end, also when it fails halfway.
//!
//! Run: `cargo bench --bench sales`, or `cargo bench --bench sales -- runs=5 rate=200 seconds=10`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use botctl::billing::Provider;
use botctl::config::{Env, Overrides, Settings};
use botctl::db::cluster::LocalCluster;
use botctl::locale::Locale;
use botctl::payments::yookassa::emulator::Emulator as Yookassa;
use botctl::payments::yookassa::webhook::{self, Consumer, Sources};
use botctl::payments::yookassa::{Checkout, Client, ClientOptions, Notification, OrderPayments, SecretKey};
use botctl::platform::fleet::Fleet;
use botctl::platform::orders::resume::{self, Buyers, Resumer};
use botctl::platform::orders::{self, Buyer, CheckedBot, DraftChanges, Fulfiller, Kind, NewOrder, Order};
use botctl::telegram::emulator::Emulator as Telegram;
use botctl::tenant::runtime::{DatabaseAccess, RuntimeOptions};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

const SHOP: &str = "506751";
const SECRET: &str = "test_bench_sales_secret_key";
const BOT_ID_BASE: i64 = 820_000_000;
const LABEL_INSTALLATION: &str = "botctl.installation";
const WAIT: Duration = Duration::from_secs(120);

struct Args {
    runs: usize,
    rate: u32,
    seconds: u32,
}

fn args() -> Args {
    let mut args = Args { runs: 5, rate: 200, seconds: 10 };
    for arg in std::env::args().skip(1) {
        let Some((key, value)) = arg.split_once('=') else { continue };
        match (key, value.parse::<u32>()) {
            ("runs", Ok(n)) => args.runs = n as usize,
            ("rate", Ok(n)) => args.rate = n,
            ("seconds", Ok(n)) => args.seconds = n,
            _ => {}
        }
    }
    args
}

fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let since = START.get_or_init(Instant::now).elapsed();
    eprintln!("[sales +{:.0} s] {what}", since.as_secs_f64());
}

/// The resumer's buyer-facing side, which the sales bot implements: here it only notes when each
/// order's buyer would have been told.
#[derive(Default)]
struct Told {
    at: Mutex<HashMap<i64, DateTime<Utc>>>,
    changed: tokio::sync::Notify,
}

impl Buyers for Told {
    fn tell(&self, order: Order) -> BoxFuture<'static, anyhow::Result<()>> {
        self.at.lock().unwrap().entry(order.id).or_insert_with(Utc::now);
        self.changed.notify_waiters();
        Box::pin(async { Ok(()) })
    }
}

impl Told {
    async fn wait(&self, order: i64) -> DateTime<Utc> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let changed = self.changed.notified();
            if let Some(at) = self.at.lock().unwrap().get(&order) {
                return *at;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            assert!(tokio::time::Instant::now() < deadline, "order {order} was never delivered");
        }
    }
}

struct Run {
    paid: f64,
    credited: f64,
    started: f64,
    healthy: f64,
}

fn main() {
    let args = args();
    let dir = tempfile::Builder::new().prefix("botctl-bench-sales").tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let tag = format!("botctl-bench-sales:{}", std::process::id());
    let guard =
        Guard { docker: docker.clone(), data: data.clone(), tags: vec![tag.clone()], installation: Mutex::default() };
    let telegram = runtime.block_on(Telegram::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let yookassa = runtime.block_on(Yookassa::start("127.0.0.1:0".parse().unwrap())).unwrap();
    yookassa.add_shop(SHOP, SECRET);
    let env = [
        ("HOME", dir.path().display().to_string()),
        ("BOTCTL_DATA_DIR", data.display().to_string()),
        ("BOTCTL_TELEGRAM_API_URL", telegram.url().to_string()),
        ("BOTCTL_DOCKER_IMAGE", tag.clone()),
    ];
    let run = |args: &[&str]| {
        let status = Command::new(env!("CARGO_BIN_EXE_botctl"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "botctl {args:?} failed");
    };
    progress("building the image and the cluster");
    run(&["image", "build", "--tag", &tag]);
    run(&["init", "-q"]);
    let settings = Settings::load(Overrides::default(), &Env::from_pairs(env.clone())).unwrap();
    let cluster = LocalCluster::new(&data, None).unwrap();
    // The daemon's own pool size (`DbOptions::DEFAULT_MAX_CONNECTIONS`), so the contention is its.
    let pool = runtime
        .block_on(
            PgPoolOptions::new()
                .max_connections(botctl::db::DbOptions::DEFAULT_MAX_CONNECTIONS)
                .connect_with(cluster.connect_options()),
        )
        .unwrap();
    let installation = runtime.block_on(botctl::db::control::installation(&pool)).unwrap();
    *guard.installation.lock().unwrap() = Some(installation.clone());
    let options = RuntimeOptions {
        installation,
        image: tag.clone(),
        network: settings.runtime.network.clone(),
        database: DatabaseAccess::Socket {
            dir: cluster.shared_socket_dir(),
            port: cluster.connect_options().get_port(),
            database: cluster.connect_options().get_database().unwrap_or("botctl").to_string(),
        },
        memory_mb: settings.runtime.memory_mb,
        cpus: settings.runtime.cpus,
        health_timeout: settings.runtime.health_timeout,
        health_interval: settings.runtime.health_interval,
        telegram_api_url: telegram.url(),
        rate_limits: true,
    };
    let client = Client::new(ClientOptions {
        base_url: yookassa.api_url(),
        shop_id: SHOP.into(),
        secret_key: SecretKey::new(SECRET),
        timeout: Duration::from_secs(35),
    })
    .unwrap();
    let checkout =
        Checkout { client: client.clone(), return_url: "https://t.me/bench_sales_bot".parse().unwrap(), receipt: None };
    let stop = CancellationToken::new();
    let consumer: Arc<dyn Consumer> = Arc::new(OrderPayments::new(checkout.clone(), pool.clone()));
    let loopback = Sources { allowed: vec!["127.0.0.1/32".parse().unwrap()], trusted_proxies: Vec::new() };
    let (listener, _task) = runtime
        .block_on(webhook::listen("127.0.0.1:0".parse().unwrap(), client, loopback, consumer, stop.clone()))
        .unwrap();
    let listener: url::Url = format!("http://{listener}/").parse().unwrap();
    yookassa.set_notification_url(SHOP, Some(listener.clone())).unwrap();

    let told = Arc::new(Told::default());
    let resumer = Resumer {
        fulfiller: Arc::new(Fulfiller {
            pool: pool.clone(),
            fleet: Fleet::new(
                botctl::db::servers::Servers::from_pool(pool.clone()),
                Ok(options),
                &settings.docker.host,
            ),
            telegram_api_url: telegram.url(),
            trial_days: 14,
            actor: "platform:bench".into(),
        }),
        // The poll asks about payments unheard of for a minute: it has no part in a loop of seconds.
        payments: None,
        buyers: Arc::clone(&told) as Arc<dyn Buyers>,
    };
    let resumer_stop = CancellationToken::new();
    let resumer_task = runtime.spawn(resume::run(resumer, resumer_stop.clone()));

    // 1. Payment confirmed → the buyer's bot healthy.
    let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut runs = Vec::new();
    for i in 0..args.runs {
        progress(&format!("loop {} of {}", i + 1, args.runs));
        let order = runtime.block_on(awaiting(&pool, &checkout, &telegram, i, "loop"));
        let slug = order.tenant.as_ref().unwrap().to_string();
        let pay_url = order_pay_url(&yookassa, &order);
        let watcher = runtime.spawn(first_healthy(docker.clone(), format!("botctl-{slug}")));
        let confirmed = Utc::now();
        let page = runtime.block_on(http.get(pay_url).send()).unwrap();
        assert!(page.status().is_success(), "the pay page answered {}", page.status());
        runtime.block_on(told.wait(order.id));
        let healthy = runtime.block_on(watcher).unwrap();
        let history = runtime.block_on(async { orders::history(&mut *pool.acquire().await?, order.id).await }).unwrap();
        let at = |state: &str| history.iter().find(|h| h.to_state == state).unwrap_or_else(|| panic!("no {state}")).at;
        let started = runtime.block_on(started_at(&docker, &format!("botctl-{slug}")));
        let since = |t: DateTime<Utc>| (t - confirmed).as_seconds_f64();
        let figures = Run {
            paid: since(at("paid")),
            credited: since(at("credited")),
            started: since(started),
            healthy: since(healthy),
        };
        progress(&format!(
            "paid {:.3} s, credited {:.3} s, started {:.3} s, healthy {:.3} s (provisioned {:.3} s)",
            figures.paid,
            figures.credited,
            figures.started,
            figures.healthy,
            since(at("provisioned"))
        ));
        runs.push(figures);
    }
    // The paid orders of the next part are measured at the listener alone, not carried into bots.
    resumer_stop.cancel();
    runtime.block_on(resumer_task).unwrap().unwrap();

    // 2. The listener under a steady rate of notifications.
    let total = (args.rate * args.seconds) as usize;
    let orders_n = total / 2;
    progress(&format!("{orders_n} orders awaiting payment"));
    yookassa.set_notification_url(SHOP, None).unwrap();
    let awaiting_orders: Vec<Order> = runtime.block_on(
        futures_util::stream::iter(0..orders_n)
            .map(|i| awaiting(&pool, &checkout, &telegram, 1000 + i, "load"))
            .buffer_unordered(4)
            .collect(),
    );
    let bodies: Vec<serde_json::Value> = awaiting_orders
        .iter()
        .map(|order| {
            let paid = yookassa.pay(order.payment_id.as_deref().unwrap()).unwrap();
            let object = serde_json::to_value(&paid).unwrap();
            serde_json::to_value(Notification {
                kind: "notification".into(),
                event: "payment.succeeded".into(),
                object,
            })
            .unwrap()
        })
        .collect();
    // Each order's notification, and its duplicate a second later, as YooKassa's retries interleave.
    let lag = args.rate as usize;
    let mut schedule = Vec::with_capacity(total);
    for k in 0..orders_n {
        schedule.push(k);
        if k >= lag {
            schedule.push(k - lag);
        }
    }
    schedule.extend(orders_n.saturating_sub(lag)..orders_n);
    progress(&format!("{} notifications at {}/s", schedule.len(), args.rate));
    let answers = runtime.block_on(post_at_rate(&http, &listener, &bodies, &schedule, args.rate));
    let mut latencies: Vec<Duration> = answers.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let not_ok = answers.iter().filter(|(status, _)| *status != 200).count();
    let ids: Vec<i64> = awaiting_orders.iter().map(|o| o.id).collect();
    let (paid_orders, paid_events, twice): (i64, i64, i64) = runtime
        .block_on(
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM botctl.orders WHERE id = ANY($1) AND state = 'paid'), \
                        (SELECT count(*) FROM botctl.order_events WHERE order_id = ANY($1) AND to_state = 'paid'), \
                        (SELECT count(*) FROM (SELECT order_id FROM botctl.order_events \
                            WHERE order_id = ANY($1) AND to_state = 'paid' GROUP BY order_id HAVING count(*) > 1) t)",
            )
            .bind(&ids)
            .fetch_one(&pool),
        )
        .unwrap();
    let provider: i64 = runtime
        .block_on(
            sqlx::query_scalar("SELECT count(*) FROM botctl.payments WHERE provider = $1")
                .bind(Provider::Yookassa.as_str())
                .fetch_one(&pool),
        )
        .unwrap();
    stop.cancel();
    drop(guard);

    let stats = |f: fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return "-".to_string();
        }
        format!("{:.3} / {:.3} / {:.3} s", v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let pct = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1).min(latencies.len() - 1);
        format!("{:.1} ms", latencies[i].as_secs_f64() * 1000.0)
    };
    println!("| measure (payment confirmed → …, min / median / max of {}) | value |", runs.len());
    println!("|---|---|");
    println!("| order `paid` (notification fetched, checked, committed) | {} |", stats(|r| r.paid));
    println!("| tenant made and credited (order `credited`) | {} |", stats(|r| r.credited));
    println!("| container started (engine's StartedAt) | {} |", stats(|r| r.started));
    println!("| the bot's `/healthz` answers 200 | {} |", stats(|r| r.healthy));
    println!();
    println!("| listener under {}/s for {} s | value |", args.rate, args.seconds);
    println!("|---|---|");
    println!(
        "| notifications posted (each order's and a duplicate) / not answered 200 | {} / {not_ok} |",
        answers.len()
    );
    println!("| answer time p50 / p95 / p99 / max | {} / {} / {} / {} |", pct(0.5), pct(0.95), pct(0.99), pct(1.0));
    println!(
        "| orders paid / `paid` transitions / orders paid more than once (of {orders_n}) | {paid_orders} / {paid_events} / {twice} |"
    );
    println!("| YooKassa payments in the ledger (the loop's credited, the load's not carried) | {provider} |");
}

/// A purchase with everything chosen whose payment YooKassa was asked for (`awaiting_payment`).
async fn awaiting(pool: &PgPool, checkout: &Checkout, telegram: &Telegram, i: usize, prefix: &str) -> Order {
    let bot = BOT_ID_BASE + i as i64;
    let token = format!("{bot}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ");
    let username = format!("sales_{i}_bot");
    telegram.add_bot(&token, bot, &username);
    let user = 7_000_000 + i as i64;
    let new = NewOrder {
        buyer: Buyer { user_id: user, chat_id: user, language: Locale::En },
        kind: Kind::Purchase,
        tenant: None,
        plan: Some("1m".into()),
    };
    let mut conn = pool.acquire().await.unwrap();
    let order = orders::create(&mut conn, &new, "bench", Utc::now()).await.unwrap();
    let changes = DraftChanges {
        business_name: Some(format!("Barbershop {i}")),
        tenant: Some(format!("{prefix}{i}").parse().unwrap()),
        bot: Some(CheckedBot { token: token.parse().unwrap(), username }),
        template: Some("barbershop".into()),
        timezone: Some(chrono_tz::Europe::Moscow),
        plan: None,
    };
    orders::update_draft(&mut conn, order.id, &changes, Utc::now()).await.unwrap();
    // Released while YooKassa is asked, as the sales bot's checkout does.
    drop(conn);
    checkout.request(pool, order.id, "1m", Utc::now()).await.unwrap();
    orders::find(&mut pool.acquire().await.unwrap(), orders::Lookup::Id(order.id)).await.unwrap().unwrap()
}

/// The buyer's confirmation page of the order's payment, as YooKassa gave it.
fn order_pay_url(yookassa: &Yookassa, order: &Order) -> url::Url {
    let payment = yookassa.payment(order.payment_id.as_deref().unwrap()).unwrap();
    payment.confirmation_url().unwrap().clone()
}

/// When the container `name`'s bot first answers its own `/healthz` 200, asked where its `botctl.http`
/// label says it listens, every 5 ms from the moment the container exists.
async fn first_healthy(docker: bollard::Docker, name: String) -> DateTime<Utc> {
    let deadline = Instant::now() + WAIT;
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(1)).build().unwrap();
    let addr = loop {
        assert!(Instant::now() < deadline, "container {name} never appeared");
        if let Ok(found) = docker.inspect_container(&name, None::<InspectContainerOptions>).await
            && let Some(addr) = found.config.and_then(|c| c.labels).and_then(|l| l.get("botctl.http").cloned())
        {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    loop {
        assert!(Instant::now() < deadline, "{name} never answered /healthz");
        let answered = client.get(format!("http://{addr}/healthz")).send().await;
        if answered.is_ok_and(|r| r.status().is_success()) {
            return Utc::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn started_at(docker: &bollard::Docker, name: &str) -> DateTime<Utc> {
    let found = docker.inspect_container(name, None::<InspectContainerOptions>).await.unwrap();
    let started = found.state.and_then(|s| s.started_at).unwrap();
    DateTime::parse_from_rfc3339(&started).unwrap().with_timezone(&Utc)
}

/// Posts `bodies[schedule[n]]` at `start + n / rate`, each on its own task whether or not earlier
/// answers have come (open loop, so a slow listener shows as latency, not as a lower rate); returns
/// each answer's status and time.
async fn post_at_rate(
    http: &reqwest::Client,
    listener: &url::Url,
    bodies: &[serde_json::Value],
    schedule: &[usize],
    rate: u32,
) -> Vec<(u16, Duration)> {
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, &k) in schedule.iter().enumerate() {
        tokio::time::sleep_until(start + Duration::from_secs(1) * n as u32 / rate).await;
        let (http, url, body) = (http.clone(), listener.clone(), bodies[k].clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let status = http.post(url).json(&body).send().await.map_or(0, |r| r.status().as_u16());
            (status, sent.elapsed())
        });
    }
    let mut answers = Vec::with_capacity(schedule.len());
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap());
    }
    answers
}

/// Removes what the benchmark made, whatever happened before: this installation's containers (by its
/// label, so nobody else's), the image tag, the cluster.
struct Guard {
    docker: bollard::Docker,
    data: PathBuf,
    tags: Vec<String>,
    installation: Mutex<Option<String>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        progress("cleaning up");
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        let installation = self.installation.lock().map(|i| i.clone()).unwrap_or(None);
        if let Some(installation) = installation {
            let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_INSTALLATION}={installation}")])]);
            let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
            let containers = runtime.block_on(self.docker.list_containers(Some(options))).unwrap_or_default();
            for id in containers.into_iter().filter_map(|c| c.id) {
                let options = RemoveContainerOptionsBuilder::default().force(true).build();
                let _ = runtime.block_on(self.docker.remove_container(&id, Some(options)));
            }
        }
        for tag in &self.tags {
            let options = RemoveImageOptionsBuilder::default().force(true).build();
            let _ = runtime.block_on(self.docker.remove_image(tag, Some(options), None));
        }
        if let Ok(cluster) = LocalCluster::new(&self.data, None) {
            let _ = cluster.stop();
        }
    }
}
