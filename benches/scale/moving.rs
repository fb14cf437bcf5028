//! The `tenant move` figure (issue 19): one barbershop tenant with 200 bookings, its bot running in
//! Docker from an image built for this run, moved from `main` to the next server and back by the
//! library's real `tenant move`, with botctl's Bot API emulator answering the bot. Measured for each
//! move: the bot's downtime as the move reports it (`downtime_ms`: bot stopped → healthy on the
//! target; target ≤ 3 s), the same seen from outside (the longest stretch in which the bot's own
//! `/healthz` did not answer), the whole move and its steps, the rows copied, and how soon the bot
//! answers a new customer afterwards. In the full run it comes after the fleet is made, so both
//! servers' catalogs are full; alone: `cargo bench --bench scale -- --move-only --servers 2`. The image
//! and the container are removed at the end and on a panic.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::query_parameters::{RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder};
use botctl::config::template::Locale;
use botctl::db::cluster::LocalCluster;
use botctl::db::servers::Servers;
use botctl::progress::{NoProgress, Progress};
use botctl::runtime::{Engine, Mode};
use botctl::telegram::emulator::{ChatMessage, TgUser};
use botctl::tenant::TenantSlug;
use botctl::tenant::moving::{self, Containers, MoveOptions, Moved};
use botctl::tenant::runtime::{self, DatabaseAccess, RuntimeOptions, container_name};
use sqlx::PgPool;

use super::{ACTOR, Fleet, Server, ms, secs};
use crate::common::barbershop;

const SLUG: &str = "movebench";
/// Apart from the fleet's bots (`BOT_ID_BASE` + n).
const BOT_ID: i64 = 790_000_001;
const BOOKINGS: usize = 200;
/// How often the bot's `/healthz` is asked during a move: the outside figure's resolution.
const PROBE_EVERY: Duration = Duration::from_millis(25);

/// Moves the tenant from `main` to the fleet's second server and back, printing the figures.
pub(super) async fn measure(fleet: &Fleet) {
    println!("\n### `tenant move`\n");
    let [source, target, ..] = fleet.servers.as_slice() else {
        println!("skipped: moving needs a second server (--servers 2 or more).");
        return;
    };
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| botctl::config::DEFAULT_DOCKER_HOST.to_string());
    let engine = match Engine::connect(&host, Duration::from_secs(60)).await {
        Ok(engine) => engine,
        Err(e) => {
            println!("skipped: no Docker engine at {host} ({e:#}).");
            return;
        }
    };
    let started = Instant::now();
    let scratch = tempfile::Builder::new().prefix("botctl-bench-move").tempdir().unwrap();
    let tag = format!("botctl-bench-move:{}", std::process::id());
    let _leftovers = Leftovers { tag: tag.clone(), container: container_name(SLUG) };
    build_image(&tag, &scratch.path().join("cli"));
    eprintln!("move: image {tag} built in {:.1} s", started.elapsed().as_secs_f64());

    // Containers reach `main` through its shared socket directory (as `runtime.database_host` would
    // say) and the target through the one recorded for it, as `server add --container-host` records
    // it: the fleet's servers were added without one, no container having needed them before.
    let target_socket = shared_socket(target).await;
    botctl::db::servers::update(
        &mut fleet.control().acquire().await.unwrap(),
        &target.name,
        None,
        Some(&target_socket.display().to_string()),
        None,
    )
    .await
    .unwrap();
    // Its own pools, as a `botctl tenant move` process has (`Servers` keeps the records it read), sized
    // as that command sizes them: a move holds a few connections at once.
    let control = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with((*fleet.control().connect_options()).clone())
        .await
        .unwrap();
    let routes = Servers::from_pool(control.clone());
    let connect = control.connect_options();
    let options = RuntimeOptions {
        installation: botctl::db::control::installation(&control).await.unwrap(),
        image: tag.clone(),
        network: "host".into(),
        database: DatabaseAccess::Socket {
            dir: shared_socket(source).await,
            port: connect.get_port(),
            database: connect.get_database().unwrap_or("botctl").to_string(),
        },
        memory_mb: 128,
        cpus: 1.0,
        health_timeout: Duration::from_secs(60),
        health_interval: Duration::from_secs(600),
        telegram_api_url: fleet.emulator.url(),
        rate_limits: true,
        mode: Mode::Containers,
        placement: Vec::new(),
    };

    let slug: TenantSlug = SLUG.parse().unwrap();
    let token = format!("{BOT_ID}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ");
    fleet.emulator.add_bot(&token, BOT_ID, "move_bench_bot");
    let mut create = barbershop(SLUG, &token, Locale::Ru, fleet.emulator.url());
    create.server = Some(source.name.parse().unwrap());
    botctl::tenant::ops::create(&routes, &create, ACTOR, &NoProgress).await.unwrap();
    book(&source.pool, &slug).await;
    runtime::start(&routes, &engine, &slug, &options, ACTOR, &NoProgress).await.unwrap();
    let before = answered(fleet, &token, 1).await;
    eprintln!("move: tenant {SLUG} running with {BOOKINGS} bookings; its bot answered /start in {} ms", ms(before));

    let containers = Containers::Engine(&engine, &options);
    let mut rows = Vec::new();
    for (n, (from, to)) in [(source, target), (target, source)].into_iter().enumerate() {
        let (moved, took, outside, steps) =
            move_once(&routes, &containers, &engine, &slug, &to.name, scratch.path()).await;
        assert!(moved.running, "the bot runs after the move: {moved:?}");
        let bookings = moved.tables.iter().find(|t| t.table == "bookings").map_or(0, |t| t.rows);
        assert_eq!(bookings, BOOKINGS as u64, "every booking copied");
        let after = answered(fleet, &token, 2 + n as i64).await;
        rows.push(Row { from: &from.name, to: &to.name, moved, took, outside, after, steps });
    }

    println!(
        "One barbershop tenant with {BOOKINGS} bookings, its bot running in Docker (host network, image {tag}), \
         moved by the library's `tenant move`; the bot's `/healthz` asked every {} ms throughout.\n",
        PROBE_EVERY.as_millis()
    );
    println!(
        "| measure | {} | target |",
        rows.iter().map(|r| format!("{} → {}", r.from, r.to)).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(rows.len()));
    let line = |what: &str, value: &dyn Fn(&Row) -> String, target: &str| {
        println!("| {what} | {} | {target} |", rows.iter().map(value).collect::<Vec<_>>().join(" | "));
    };
    line(
        "bot down, as the move reports it (`downtime_ms`: told to stop → healthy on the target)",
        &|r| r.moved.downtime_ms.map_or("-".into(), |d| format!("{d} ms")),
        "≤ 3 s",
    );
    line(
        "bot down, seen from outside (longest stretch `/healthz` did not answer)",
        &|r| format!("{} ms", ms(r.outside)),
        "—",
    );
    line("the whole `tenant move`", &|r| secs(r.took), "—");
    for step in STEPS {
        line(
            &format!("… {step}"),
            &|r| r.steps.iter().find(|s| s.0 == *step).map_or("-".into(), |s| format!("{} ms", ms(s.1))),
            "—",
        );
    }
    line("rows copied and verified (tables)", &|r| format!("{} ({})", r.moved.rows, r.moved.tables.len()), "—");
    line("a new customer's /start answered after the move, in", &|r| format!("{} ms", ms(r.after)), "—");
    eprintln!("move: measured in {:.1} s", started.elapsed().as_secs_f64());
}

/// What one move measured.
struct Row<'a> {
    from: &'a str,
    to: &'a str,
    moved: Moved,
    took: Duration,
    outside: Duration,
    after: Duration,
    steps: Vec<(&'static str, Duration)>,
}

/// The move's steps, as its progress messages begin (`moving::move_tenant` tells each as it starts it).
const STEPS: &[&str] =
    &["preparing", "stopping", "taking", "loading and verifying", "switching", "starting", "dropping"];

/// Times the steps a move tells of: each from its message to the next one's (the last to the end).
#[derive(Default)]
struct Steps(Mutex<Vec<(String, Instant)>>);

impl Progress for Steps {
    fn set_message(&self, message: &str) {
        self.0.lock().unwrap().push((message.to_string(), Instant::now()));
    }
}

impl Steps {
    fn durations(&self, ended: Instant) -> Vec<(&'static str, Duration)> {
        let told = self.0.lock().unwrap();
        let mut steps = Vec::new();
        for (i, (message, at)) in told.iter().enumerate() {
            let next = told.get(i + 1).map_or(ended, |(_, at)| *at);
            if let Some(step) = STEPS.iter().find(|s| message.starts_with(*s)) {
                steps.push((*step, next - *at));
            }
        }
        steps
    }
}

/// One `tenant move` to `to`, the bot's `/healthz` asked meanwhile: what it returned, how long it took,
/// the longest stretch `/healthz` did not answer, and its steps' times.
async fn move_once(
    routes: &Servers,
    containers: &Containers<'_>,
    engine: &Engine,
    slug: &TenantSlug,
    to: &str,
    scratch: &std::path::Path,
) -> (Moved, Duration, Duration, Vec<(&'static str, Duration)>) {
    let options = MoveOptions { to: Some(to.parse().unwrap()), force: false, dest: scratch.join("moves"), jobs: 1 };
    let done = AtomicBool::new(false);
    let steps = Steps::default();
    let started = Instant::now();
    let moving = async {
        let moved = moving::move_tenant(routes, containers, slug, &options, ACTOR, &steps).await;
        let ended = Instant::now();
        done.store(true, Ordering::SeqCst);
        (moved, ended)
    };
    let ((moved, ended), outside) = tokio::join!(moving, unanswered(engine, slug, &done));
    let moved = moved.unwrap_or_else(|e| panic!("tenant move to {to} failed: {e:#}"));
    (moved, ended - started, outside, steps.durations(ended))
}

/// Asks the bot's own `/healthz` (where its container says it listens: it may be a new container) every
/// [`PROBE_EVERY`] until `done`, then a little longer for the bot to answer again; returns the longest
/// stretch from the last answer before a failure to the next answer.
async fn unanswered(engine: &Engine, slug: &TenantSlug, done: &AtomicBool) -> Duration {
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(500)).build().unwrap();
    let name = container_name(slug.as_str());
    let (mut last_ok, mut down_since, mut longest) = (None::<Instant>, None::<Instant>, Duration::ZERO);
    let mut after_done = None::<Instant>;
    loop {
        let addr =
            engine.container(&name).await.ok().flatten().filter(|c| c.status == "running").and_then(|c| c.healthz);
        let ok = match addr {
            Some(addr) => {
                client.get(format!("http://{addr}/healthz")).send().await.is_ok_and(|r| r.status().is_success())
            }
            None => false,
        };
        let now = Instant::now();
        if ok {
            if let Some(since) = down_since.take() {
                longest = longest.max(now - last_ok.unwrap_or(since));
            }
            last_ok = Some(now);
        } else if down_since.is_none() {
            down_since = Some(now);
        }
        if done.load(Ordering::SeqCst) {
            let since = *after_done.get_or_insert(now);
            if down_since.is_none() || now - since > Duration::from_secs(10) {
                return longest;
            }
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Waits until the bot answers a new customer's /start; returns how long that took.
async fn answered(fleet: &Fleet, token: &str, n: i64) -> Duration {
    let user = TgUser::new(990_000 + n, "Customer");
    let started = Instant::now();
    fleet.emulator.send_text(token, &user, "/start");
    let answer = |chat: &[ChatMessage]| chat.iter().any(|m| m.from_bot);
    fleet.emulator.wait_until(token, user.id, answer, Duration::from_secs(30)).await.unwrap();
    started.elapsed()
}

/// `BOOKINGS` customers each with a booking and its reminder, as `benches/backup.rs` makes them.
async fn book(pool: &PgPool, slug: &TenantSlug) {
    crate::common::book(pool, &slug.quoted_schema(), BOOKINGS).await;
}

/// The server's shared socket directory, the one a container may mount (beside its PGDATA).
async fn shared_socket(server: &Server) -> PathBuf {
    let pgdata: String = sqlx::query_scalar("SHOW data_directory").fetch_one(&server.pool).await.unwrap();
    let dir = std::path::Path::new(&pgdata).parent().expect("PGDATA sits in the cluster's directory");
    LocalCluster::new(dir, None).unwrap().shared_socket_dir()
}

/// `botctl image build --tag TAG`, as an operator builds the tenant image (benches/containers.rs does it
/// so too): the image holds the botctl this benchmark was built with.
fn build_image(tag: &str, home: &std::path::Path) {
    std::fs::create_dir_all(home).unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_botctl"))
        .env_clear()
        .env("HOME", home)
        .env("BOTCTL_DATA_DIR", home.join("data"))
        .envs(std::env::var("DOCKER_HOST").ok().map(|h| ("BOTCTL_DOCKER_HOST", h)))
        .args(["image", "build", "--tag", tag, "-q"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "botctl image build --tag {tag} failed");
}

/// The container and the image this made, removed when dropped: at the end, or on a panic unwinding.
struct Leftovers {
    tag: String,
    container: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let (tag, container) = (self.tag.clone(), self.container.clone());
        // Dropped inside the benchmark's runtime, which cannot block on another: a thread of its own.
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            let docker = bollard::Docker::connect_with_defaults().ok()?;
            runtime.block_on(async {
                let options = RemoveContainerOptionsBuilder::default().force(true).build();
                let _ = docker.remove_container(&container, Some(options)).await;
                let options = RemoveImageOptionsBuilder::default().force(true).build();
                docker.remove_image(&tag, Some(options), None).await.ok()
            })
        })
        .join();
        if !matches!(removed, Ok(Some(_))) {
            eprintln!(
                "move: could not remove the image {} (and container {}): remove them by hand",
                self.tag, self.container
            );
        }
    }
}
