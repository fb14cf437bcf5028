//! Tests that need a Docker engine. Without one they are ignored with the reason; CI sets
//! BOTCTL_REQUIRE_DOCKER=1, which makes them run (and fail) even where no engine is found.

use std::collections::HashMap;
use std::time::Duration;

use botctl::runtime::Engine;
use botctl::runtime::container::{BindMount, ContainerSpec, MANAGED, Waited};
use serde_json::Value;

use crate::support::{Sandbox, TestDb, block_on, http, token, unique_name, unique_slug};
use crate::tenant::{BOT_A, BOT_B, Fixture};

/// A test that needs the engine: ignored with the reason where there is none (build.rs sets
/// `docker_engine`, and BOTCTL_REQUIRE_DOCKER=1 sets it regardless).
macro_rules! docker_test {
    (fn $name:ident() $body:block) => {
        #[test]
        #[cfg_attr(
            not(docker_engine),
            ignore = "needs a Docker engine (none at /var/run/docker.sock or DOCKER_HOST); set BOTCTL_REQUIRE_DOCKER=1 to require it"
        )]
        fn $name() $body
    };
}
pub(crate) use docker_test;

/// Waits until the tenant's bot (for `BOT_A`) answers a new customer's /start.
fn bot_answers(f: &Fixture, user_id: i64) {
    let user = botctl::telegram::emulator::TgUser::new(user_id, "Customer");
    f.emulator.send_text(&token(BOT_A), &user, "/start");
    let answered = |chat: &[botctl::telegram::emulator::ChatMessage]| chat.iter().any(|m| m.from_bot);
    block_on(f.emulator.wait_until(&token(BOT_A), user.id, answered, Duration::from_secs(30))).unwrap();
}

/// The engine this test process reaches (as bollard finds it), for botctl too.
pub(crate) fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| botctl::config::DEFAULT_DOCKER_HOST.to_string())
}

pub(crate) fn engine() -> Engine {
    block_on(Engine::connect(&docker_host(), Duration::from_secs(60))).unwrap()
}

/// What the bot of container `name` answers on its own `/healthz` (status and report), asked where the
/// container's `botctl.http` label says it listens (host networking: 127.0.0.1).
fn healthz(name: &str) -> (u16, Value) {
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let inspected =
        block_on(docker.inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)).unwrap();
    let addr = inspected.config.unwrap().labels.unwrap()["botctl.http"].clone();
    block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = client.get(format!("http://{addr}/healthz")).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or_default())
    })
}

/// The container runs, and its bot answers its own `/healthz` 200: Docker's own status says only
/// `starting` until its first check, one healthcheck interval (minutes) after the start.
pub(crate) fn assert_serving(name: &str) {
    let state = block_on(engine().container(name)).unwrap().unwrap();
    assert_eq!(state.status, "running", "{name}");
    assert_ne!(state.health.as_deref(), Some("unhealthy"), "{name}");
    let (status, report) = healthz(name);
    assert_eq!(status, 200, "{name}: {report}");
}

/// botctl on the test's engine.
fn on_engine(mut cmd: assert_cmd::Command) -> assert_cmd::Command {
    cmd.env("BOTCTL_DOCKER_HOST", docker_host());
    cmd
}

/// botctl for the fixture's tenants, running them from `image` and reaching the test database.
pub(crate) fn runtime_botctl(f: &Fixture, image: &str) -> assert_cmd::Command {
    assert_cmd::Command::from_std(runtime_process(f, image))
}

/// The same, to spawn.
pub(crate) fn runtime_process(f: &Fixture, image: &str) -> std::process::Command {
    let mut cmd = f.process();
    cmd.env("BOTCTL_DOCKER_HOST", docker_host())
        .env("BOTCTL_DOCKER_IMAGE", image)
        .env("BOTCTL_RUNTIME_DATABASE_HOST", containers_database_host());
    cmd
}

/// `botctl platform serve` as a process on the fixture's engine and `image`, configured by `env`, its
/// log going to `log`; stopped with SIGTERM (as systemd would) when dropped.
pub(crate) struct PlatformDaemon(std::process::Child);

impl PlatformDaemon {
    pub(crate) fn start(f: &Fixture, image: &str, env: &[(&str, String)], log: std::process::Stdio) -> Self {
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let child = runtime_process(f, image)
            .args(["platform", "serve"])
            .env("BOTCTL_PLATFORM_LISTEN", listen.to_string())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        PlatformDaemon(child)
    }
}

impl Drop for PlatformDaemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

/// How containers on the host network reach the test server: the throwaway cluster's shared socket
/// directory, or an external server's HOST:PORT.
fn containers_database_host() -> String {
    let url = crate::support::server_url();
    match url.query_pairs().find(|(k, _)| k == "host").map(|(_, v)| v.into_owned()) {
        Some(pgdata) if pgdata.starts_with('/') => {
            std::path::Path::new(&pgdata).parent().unwrap().join("socket").display().to_string()
        }
        _ => format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port().unwrap_or(5432)),
    }
}

docker_test! {
    fn doctor_reports_the_engine_and_its_api_version() {
        let sandbox = Sandbox::new();
        let db = TestDb::new();
        sandbox.botctl().args(["--database-url", &db.url(), "init", "-q"]).assert().success();
        let mut cmd = on_engine(sandbox.botctl());
        cmd.args(["--database-url", &db.url(), "doctor", "-o", "json"]).env("BOTCTL_TELEGRAM_API_URL", http::answering());
        // The tenant image is not built yet, so doctor warns but does not fail: exit 0.
        let output = cmd.assert().success().get_output().clone();
        let checks: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        let docker = checks.iter().find(|c| c["name"] == "docker").unwrap();
        assert_eq!(docker["status"], "ok", "{docker}");
        let message = docker["message"].as_str().unwrap();
        assert!(regex::Regex::new(r"^Docker \S+ \(API 1\.\d+, ").unwrap().is_match(message), "{message}");
        let image = checks.iter().find(|c| c["name"] == "tenant image").unwrap();
        assert_ne!(image["status"], "fail", "{image}");
    }
}

/// Builds a uniquely tagged tenant image with `botctl image build`; the guard removes it.
pub(crate) fn build_image(sandbox: &Sandbox) -> (String, Value, ImageGuard) {
    let tag = format!("{}:test", unique_name("botctl-image").replace('_', "-"));
    let guard = ImageGuard(tag.clone());
    let output = on_engine(sandbox.botctl()).args(["image", "build", "--tag", &tag, "-o", "json"]).assert().success();
    (tag.clone(), serde_json::from_slice(&output.get_output().stdout).unwrap(), guard)
}

/// Removes the test's image (and any container left from it) however the test ends.
pub(crate) struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::default().force(true).build();
        let _ = block_on(docker.remove_image(&self.0, Some(options), None));
    }
}

docker_test! {
    fn image_build_needs_no_base_image_and_the_image_runs_botctl_as_nobody() {
        use bollard::query_parameters::{CreateContainerOptions, LogsOptionsBuilder, RemoveContainerOptionsBuilder};
        use futures_util::StreamExt;

        let sandbox = Sandbox::new();
        let (tag, built, _guard) = build_image(&sandbox);
        assert_eq!(built["tag"], tag.as_str());
        assert!(built["files"]["/usr/local/bin/botctl"].is_string(), "{built}");
        assert!(built["size_bytes"].as_i64().unwrap() > 1_000_000, "{built}");

        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let image = block_on(docker.inspect_image(&tag)).unwrap();
        let config = image.config.unwrap();
        assert_eq!(config.user.as_deref(), Some("65534:65534"));
        assert_eq!(config.entrypoint, Some(vec!["/usr/local/bin/botctl".to_string()]));
        assert_eq!(config.cmd, Some(vec!["serve".to_string()]));

        // The image runs the binary: its version, as nobody, with nothing else in the file system.
        let body = bollard::models::ContainerCreateBody {
            image: Some(tag.clone()),
            cmd: Some(vec!["--version".to_string()]),
            ..Default::default()
        };
        let created = block_on(docker.create_container(None::<CreateContainerOptions>, body)).unwrap();
        block_on(docker.start_container(&created.id, None)).unwrap();
        let exit = block_on(docker.wait_container(&created.id, None).next()).unwrap().unwrap();
        let logs: Vec<_> = block_on(
            docker
                .logs(&created.id, Some(LogsOptionsBuilder::default().stdout(true).stderr(true).build()))
                .collect::<Vec<_>>(),
        );
        let logs: String = logs.into_iter().map(|l| l.unwrap().to_string()).collect();
        block_on(docker.remove_container(&created.id, Some(RemoveContainerOptionsBuilder::default().force(true).build())))
            .unwrap();
        assert_eq!(exit.status_code, 0, "{logs}");
        assert_eq!(logs.trim(), format!("botctl {}", env!("CARGO_PKG_VERSION")));
    }
}

/// Removes a test container however the test ends.
pub(crate) struct ContainerGuard(pub(crate) String);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = block_on(docker.remove_container(&self.0, Some(options)));
    }
}

/// `url` as a container on the host network uses it: through the throwaway cluster's shared socket
/// directory, mounted, or (an external test server) as it is.
fn from_a_container(url: &str) -> (String, Vec<BindMount>) {
    let mut url = url::Url::parse(url).unwrap();
    if !url.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/')) {
        return (url.to_string(), Vec::new());
    }
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "host" { "/run/postgresql".into() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(query);
    let mount =
        BindMount { source: containers_database_host().into(), target: "/run/postgresql".into(), read_only: true };
    (url.to_string(), vec![mount])
}

docker_test! {
    fn a_serve_container_gets_healthy_talks_to_postgresql_and_the_emulator_and_every_step_is_idempotent() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let (database_url, mounts) = from_a_container(&f.tenant_url(&slug));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let name = unique_name("botctl-test").replace('_', "-");
        let _container_guard = ContainerGuard(name.clone());
        let spec = ContainerSpec {
            name: name.clone(),
            image,
            // Where botctl is told /healthz is, nothing listens, as when botctl runs in another network
            // namespace than the bot: it must fall back to running the container's own healthcheck.
            labels: HashMap::from([
                (MANAGED.to_string(), "true".to_string()),
                ("botctl.tenant".into(), slug.clone()),
                ("botctl.http".into(), http::refused().trim_start_matches("http://").trim_end_matches('/').to_string()),
            ]),
            env: vec![
                format!("BOTCTL_TENANT={slug}"),
                format!("DATABASE_URL={database_url}"),
                format!("BOT_TOKEN={}", token(BOT_A)),
                format!("BOTCTL_TELEGRAM_API_URL={}", f.emulator.url()),
                format!("BOTCTL_HTTP_ADDR=127.0.0.1:{port}"),
                "BOTCTL_LOG=info".into(),
            ],
            network: "host".into(),
            mounts,
            memory_bytes: 128 << 20,
            nano_cpus: 1_000_000_000,
            healthcheck: vec!["/usr/local/bin/botctl".into(), "health".into()],
            // Docker's own check never runs within the test: what makes it healthy is botctl's.
            health_interval: Duration::from_secs(3600),
            health_start_period: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
        };
        let engine = engine();

        assert!(block_on(engine.create_container(&spec)).unwrap(), "made");
        assert!(!block_on(engine.create_container(&spec)).unwrap(), "a second create finds it and leaves it");
        block_on(engine.start_container(&name)).unwrap();
        block_on(engine.start_container(&name)).unwrap();
        let waited = block_on(engine.wait_healthy(&name, Duration::from_secs(60), &|_| false)).unwrap();
        let logs = block_on(engine.last_logs(&name, 50)).unwrap();
        assert_eq!(waited, Waited::Healthy, "{logs:#?}");
        // It is healthy indeed: the bot answers where it really listens.
        let answer = block_on(async {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.unwrap().status().as_u16()
        });
        assert_eq!(answer, 200);
        // The container's healthcheck (`botctl health` in the image), run by botctl, said so; Docker has
        // not run it yet.
        let state = block_on(engine.container(&name)).unwrap().unwrap();
        assert_eq!((state.status.as_str(), state.health.as_deref()), ("running", Some("starting")));
        assert_eq!(state.labels.get("botctl.tenant"), Some(&slug));

        // The bot in the container answers a customer: PostgreSQL through the mounted socket, the emulator
        // on 127.0.0.1.
        bot_answers(&f, 7501);
        let logs = block_on(engine.last_logs(&name, 50)).unwrap();
        assert!(logs.iter().any(|l| l.contains("serving")), "{logs:#?}");
        assert!(!logs.iter().any(|l| l.contains(&format!("pw-{slug}"))), "the password stays out of the logs");

        block_on(engine.stop_container(&name, spec.stop_grace)).unwrap();
        block_on(engine.stop_container(&name, spec.stop_grace)).unwrap();
        let stopped = block_on(engine.container(&name)).unwrap().unwrap();
        assert_eq!(stopped.status, "exited");
        block_on(engine.remove_container(&name)).unwrap();
        block_on(engine.remove_container(&name)).unwrap();
        assert!(block_on(engine.container(&name)).unwrap().is_none());
    }
}

docker_test! {
    fn tenant_start_stop_restart_and_delete_drive_the_bots_container() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let name = format!("botctl-{slug}");
        let _container_guard = ContainerGuard(name.clone());
        let botctl = || runtime_botctl(&f, &image);
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let inspect =
            || block_on(docker.inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>));
        let status = || f.json(&["tenant", "show", &slug])["status"].as_str().unwrap().to_string();
        assert_eq!(f.json(&["tenant", "show", &slug])["container"], Value::Null, "never started: no container");

        // Two starts at once: the tenant's lock lets one make the container (rotating the password once);
        // the other finds it made.
        let starts: Vec<_> = (0..2)
            .map(|_| {
                let mut cmd = runtime_process(&f, &image);
                cmd.args(["tenant", "start", &slug, "-o", "json"]).stdout(std::process::Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        let mut created: Vec<Value> = starts
            .into_iter()
            .map(|child| {
                let output = child.wait_with_output().unwrap();
                assert!(output.status.success());
                serde_json::from_slice::<Value>(&output.stdout).unwrap()["created"].clone()
            })
            .collect();
        created.sort_by_key(|c| c.as_bool());
        assert_eq!(created, vec![Value::Bool(false), Value::Bool(true)]);
        assert_eq!(status(), "running");
        let container = inspect().unwrap();
        let labels = container.config.as_ref().unwrap().labels.clone().unwrap();
        assert_eq!(labels.get("botctl.managed").map(String::as_str), Some("true"));
        assert_eq!(labels.get("botctl.tenant"), Some(&slug));
        let installation: String = f.scalar("SELECT id::text FROM botctl.installation");
        assert_eq!(labels.get("botctl.installation"), Some(&installation));
        assert_eq!(f.json(&["tenant", "show", &slug])["image"], image.as_str(), "the image it runs is recorded");
        let host = container.host_config.as_ref().unwrap();
        assert_eq!(host.memory, Some(128 << 20));
        assert_eq!(
            host.restart_policy.as_ref().unwrap().name,
            Some(bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        // Only this tenant's settings: its own role, never the operator's.
        let env = container.config.as_ref().unwrap().env.clone().unwrap();
        let database_url = env.iter().find_map(|e| e.strip_prefix("DATABASE_URL=")).unwrap();
        assert!(database_url.starts_with(&format!("postgres://tenant_{slug}:")), "{database_url}");
        assert!(!env.iter().any(|e| e.contains("botctl@") || e.starts_with("BOTCTL_DATABASE_URL")), "{env:?}");

        // botctl waited for the bot's own /healthz; Docker's check runs at the default interval, rarely.
        let (code, report) = healthz(&name);
        assert_eq!((code, &report["healthy"]), (200, &Value::Bool(true)), "{report}");
        let check = container.config.as_ref().unwrap().healthcheck.clone().unwrap();
        assert_eq!(check.interval, Some(600_000_000_000), "the default interval, 10 minutes");
        assert_eq!(check.test.unwrap(), ["CMD", "/usr/local/bin/botctl", "health"]);

        // The bot in the container answers.
        bot_answers(&f, 7601);

        // Docker has not run its first check yet; list and show ask the bot, and say so in JSON only.
        let listed = f.json(&["tenant", "list"]);
        let me = listed.as_array().unwrap().iter().find(|t| t["slug"] == slug.as_str()).unwrap().clone();
        assert_eq!(me["container"], serde_json::json!({"status": "running", "health": "healthy", "health_source": "probe"}));
        let shown = f.botctl().args(["tenant", "show", &slug]).assert().success().get_output().stdout.clone();
        assert!(String::from_utf8_lossy(&shown).contains(&format!("running, healthy (botctl-{slug})")));

        // Limits of its own apply to the running container at once; `default` returns to the configured ones.
        botctl().args(["tenant", "update", &slug, "--memory-mb", "96", "--cpus", "0.5"]).assert().success();
        let host = inspect().unwrap().host_config.unwrap();
        assert_eq!((host.memory, host.nano_cpus), (Some(96 << 20), Some(500_000_000)));
        assert_eq!(f.json(&["tenant", "show", &slug])["memory_mb"], 96);
        botctl().args(["tenant", "update", &slug, "--memory-mb", "default", "--cpus", "default"]).assert().success();
        let host = inspect().unwrap().host_config.unwrap();
        assert_eq!((host.memory, host.nano_cpus), (Some(128 << 20), Some(1_000_000_000)));
        assert_eq!(f.json(&["tenant", "show", &slug])["memory_mb"], Value::Null);

        // Starting a running tenant changes nothing.
        let out = botctl().args(["tenant", "start", &slug, "-o", "json"]).assert().success().get_output().stdout.clone();
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap()["created"], false);

        botctl().args(["tenant", "stop", &slug]).assert().success();
        assert_eq!(status(), "stopped");
        assert_eq!(f.json(&["tenant", "show", &slug])["container"]["status"], "exited");
        assert_eq!(inspect().unwrap().state.unwrap().running, Some(false));
        botctl().args(["tenant", "stop", &slug]).assert().success();

        // A restart with another interval configured makes the container again, with that interval.
        let id_before = inspect().unwrap().id;
        botctl().env("BOTCTL_RUNTIME_HEALTH_INTERVAL", "2m").args(["tenant", "restart", &slug]).assert().success();
        assert_eq!(status(), "running");
        let restarted = inspect().unwrap();
        assert_eq!(restarted.state.unwrap().running, Some(true));
        assert_ne!(restarted.id, id_before, "made again");
        assert_eq!(restarted.config.unwrap().healthcheck.unwrap().interval, Some(120_000_000_000));
        assert_serving(&name);
        // The same interval again: the container stays.
        botctl().env("BOTCTL_RUNTIME_HEALTH_INTERVAL", "2m").args(["tenant", "restart", &slug]).assert().success();
        assert_eq!(inspect().unwrap().id, restarted.id);
        assert_serving(&name);

        // A delete that failed half-way: a stop halts the bot but leaves the tenant to the delete, which
        // then takes no second final backup.
        f.scalar::<i32>(&format!("WITH d AS (UPDATE botctl.tenants SET status = 'deleting' WHERE slug = '{slug}') SELECT 1"));
        botctl().args(["tenant", "stop", &slug]).assert().success();
        assert_eq!(inspect().unwrap().state.unwrap().running, Some(false));
        assert_eq!(status(), "deleting");
        botctl().args(["tenant", "delete", &slug, "--yes"]).assert().success();
        assert!(inspect().is_err(), "the container is gone");
        assert!(!f.schema_exists(&slug) && !f.role_exists(&slug));
    }
}

docker_test! {
    fn a_bot_that_never_gets_healthy_is_removed_with_its_last_lines_and_the_tenant_stays_stopped() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let name = format!("botctl-{slug}");
        let _container_guard = ContainerGuard(name.clone());
        let mut cmd = runtime_botctl(&f, &image);
        // Telegram never answers, so /healthz never reports a recent poll. Long enough for a loaded host
        // to start the bot, so that its lines are there to show.
        cmd.env("BOTCTL_RUNTIME_HEALTH_TIMEOUT", "10s").env("BOTCTL_TELEGRAM_API_URL", http::refused());
        let output = cmd.args(["tenant", "start", &slug]).assert().code(1).get_output().clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("did not become healthy") && stderr.contains(&format!("botctl tenant start {slug}")),
            "{stderr}"
        );
        assert!(
            stderr.contains("getUpdates failed") || stderr.contains("serving"),
            "the last log lines are shown: {stderr}"
        );
        assert!(!stderr.contains(&format!("tenant_{slug}:")), "no password in the output: {stderr}");
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        assert!(
            block_on(docker.inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>)).is_err()
        );
        assert_eq!(f.json(&["tenant", "show", &slug])["status"], "stopped");
    }
}

docker_test! {
    fn a_named_network_is_created_once_and_host_needs_none() {
        let engine = engine();
        let name = unique_name("botctl-net").replace('_', "-");
        block_on(engine.ensure_network("host")).unwrap();
        block_on(engine.ensure_network(&name)).unwrap();
        block_on(engine.ensure_network(&name)).unwrap();
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let network = block_on(docker.inspect_network(&name, None::<bollard::query_parameters::InspectNetworkOptions>));
        let _ = block_on(docker.remove_network(&name));
        let network = network.unwrap();
        assert_eq!(network.driver.as_deref(), Some("bridge"));
        assert_eq!(network.labels.unwrap().get(MANAGED).map(String::as_str), Some("true"));
    }
}

docker_test! {
    fn create_starts_the_bot_and_one_that_cannot_start_is_left_stopped_for_start_to_retry() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let botctl = |database_host: &str| {
            let mut cmd = runtime_botctl(&f, &image);
            cmd.env("BOTCTL_RUNTIME_DATABASE_HOST", database_host).env("BOTCTL_RUNTIME_HEALTH_TIMEOUT", "20s");
            cmd
        };
        let create = |slug: &str, bot: i64, database_host: &str| {
            let mut cmd = botctl(database_host);
            cmd.args(["tenant", "create", slug, "--token", &token(bot), "--admin", "1", "--template", "clinic"]);
            cmd
        };

        let good = unique_slug();
        let _good_container = ContainerGuard(format!("botctl-{good}"));
        create(&good, BOT_A, &containers_database_host()).assert().success();
        assert_eq!(f.json(&["tenant", "show", &good])["status"], "running");
        // Returned only once the bot is really healthy: its own /healthz says so now.
        let (code, report) = healthz(&format!("botctl-{good}"));
        assert_eq!((code, &report["healthy"]), (200, &Value::Bool(true)), "{report}");
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let inspected = block_on(
            docker.inspect_container(&format!("botctl-{good}"), None::<bollard::query_parameters::InspectContainerOptions>),
        );
        let check = inspected.unwrap().config.unwrap().healthcheck.unwrap();
        assert_eq!(
            (check.interval, check.start_period),
            (Some(600_000_000_000), Some(20_000_000_000)),
            "the default interval; Docker counts no failure while botctl waits"
        );
        // Docker's first check is ten minutes away, so Docker says `starting`; list and show ask the bot.
        let engine_says = block_on(engine().container(&format!("botctl-{good}"))).unwrap().unwrap();
        assert_eq!(engine_says.health.as_deref(), Some("starting"));
        let probed = serde_json::json!({"status": "running", "health": "healthy", "health_source": "probe"});
        let listed = f.json(&["tenant", "list"]);
        let listed = listed.as_array().unwrap().iter().find(|t| t["slug"] == good.as_str()).unwrap().clone();
        assert_eq!(listed["container"], probed, "{listed}");
        assert_eq!(f.json(&["tenant", "show", &good])["container"], probed);

        // Nothing listens where the container is told PostgreSQL is.
        let bad = unique_slug();
        let _bad_container = ContainerGuard(format!("botctl-{bad}"));
        let output = create(&bad, BOT_B, "127.0.0.1:1").assert().code(1).get_output().clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("was created, but its bot did not start"), "{stderr}");
        assert_eq!(f.json(&["tenant", "show", &bad])["status"], "stopped");
        let inspect = block_on(
            docker.inspect_container(&format!("botctl-{bad}"), None::<bollard::query_parameters::InspectContainerOptions>),
        );
        assert!(inspect.is_err(), "the failed container is removed");
        botctl(&containers_database_host()).args(["tenant", "start", &bad]).assert().success();
        assert_eq!(f.json(&["tenant", "show", &bad])["status"], "running");
    }
}

docker_test! {
    fn logs_show_the_bots_start_line_and_follow_it_across_a_restart() {
        use std::io::{BufRead, BufReader};

        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let _container_guard = ContainerGuard(format!("botctl-{slug}"));
        let botctl = || runtime_botctl(&f, &image);
        let none = botctl().args(["logs", &slug]).assert().code(1).get_output().stderr.clone();
        assert!(String::from_utf8_lossy(&none).contains("has no container"));
        botctl().args(["tenant", "start", &slug]).assert().success();

        let out = botctl().args(["logs", &slug, "--tail", "20"]).assert().success().get_output().stdout.clone();
        let out = String::from_utf8_lossy(&out).into_owned();
        assert!(out.contains("serving"), "{out}");
        let stamped =
            botctl().args(["logs", &slug, "--timestamps", "--since", "10m"]).assert().success().get_output().stdout.clone();
        let first = String::from_utf8_lossy(&stamped).lines().next().unwrap_or_default().to_string();
        assert!(regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").unwrap().is_match(&first), "{first}");

        // Following: a restart ends Docker's stream; the command re-attaches and shows the new start.
        let mut follower = runtime_process(&f, &image)
            .args(["logs", "-f", &slug])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (lines, seen) = std::sync::mpsc::channel();
        let stdout = BufReader::new(follower.stdout.take().unwrap());
        std::thread::spawn(move || stdout.lines().map_while(Result::ok).for_each(|l| drop(lines.send(l))));
        let starts = |count: usize| {
            let mut serving = 0;
            while serving < count {
                match seen.recv_timeout(Duration::from_secs(60)) {
                    Ok(line) => serving += usize::from(line.contains("serving")),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        starts(1).expect("the first start line");
        botctl().args(["tenant", "restart", &slug]).assert().success();
        starts(1).expect("the start line after the restart");
        assert!(follower.try_wait().unwrap().is_none(), "still following");
        follower.kill().unwrap();
        follower.wait().unwrap();
    }
}

docker_test! {
    fn doctor_finds_an_orphan_container_and_a_vanished_bot_and_fix_repairs_both() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let botctl = || runtime_botctl(&f, &image);
        let (kept, dropped) = (f.create(BOT_A), f.create(BOT_B));
        let _guards = [ContainerGuard(format!("botctl-{kept}")), ContainerGuard(format!("botctl-{dropped}"))];
        botctl().args(["tenant", "start", &kept]).assert().success();
        botctl().args(["tenant", "start", &dropped]).assert().success();
        botctl().args(["tenant", "stop", &dropped]).assert().success();
        // Deleted while the engine was unreachable: its container stays behind.
        let mut delete = botctl();
        delete.env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock");
        delete.args(["tenant", "delete", &dropped, "--yes"]).assert().success();
        // And the other bot's container vanishes behind botctl's back.
        block_on(engine().remove_container(&format!("botctl-{kept}"))).unwrap();

        let doctor = |extra: &[&str]| {
            let output = botctl().args(["doctor", "-o", "json"]).args(extra).output().unwrap();
            let checks: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
            let check = |name: &str| checks.iter().find(|c| c["name"] == name).cloned().unwrap_or_default();
            (output.status.code(), check("containers"), check("running tenants"), output.stderr)
        };
        let (code, containers, running, _) = doctor(&[]);
        assert_eq!(code, Some(1), "a running tenant without a bot fails the doctor");
        assert_eq!(containers["status"], "warn", "{containers}");
        assert!(containers["message"].as_str().unwrap().contains(&format!("botctl-{dropped} (exited")), "{containers}");
        assert_eq!(running["status"], "fail", "{running}");
        assert!(running["message"].as_str().unwrap().contains(&format!("{kept} (no container)")), "{running}");

        // Off a terminal, repairs need --yes; nothing changes without it.
        let refused = botctl().args(["doctor", "--fix"]).assert().code(2).get_output().stderr.clone();
        assert!(String::from_utf8_lossy(&refused).contains("without --yes"));
        assert!(block_on(engine().container(&format!("botctl-{dropped}"))).unwrap().is_some());

        let (code, containers, running, stderr) = doctor(&["--fix", "--yes"]);
        let stderr = String::from_utf8_lossy(&stderr);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!((containers["status"].as_str(), running["status"].as_str()), (Some("ok"), Some("ok")), "{stderr}");
        assert!(stderr.contains(&format!("remove container botctl-{dropped}")), "{stderr}");
        assert!(block_on(engine().container(&format!("botctl-{dropped}"))).unwrap().is_none());
        assert_serving(&format!("botctl-{kept}"));
        let (code, ..) = doctor(&["--fix", "--yes"]);
        assert_eq!(code, Some(0), "nothing left to repair");
    }
}

/// An image built `FROM base` with more Dockerfile lines (the base is local, so nothing is pulled).
fn derived_image(base: &str, lines: &str) -> (String, ImageGuard) {
    let tag = format!("{}:test", unique_name("botctl-derived").replace('_', "-"));
    let dockerfile = format!("FROM {base}\n{lines}\n");
    let mut context = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    context.append_data(&mut header, "Dockerfile", dockerfile.as_bytes()).unwrap();
    let context = context.into_inner().unwrap();
    let guard = ImageGuard(tag.clone());
    block_on(engine().build_image(&tag, context, &botctl::progress::NoProgress)).unwrap();
    (tag, guard)
}

docker_test! {
    fn upgrade_moves_bots_to_a_new_image_and_rolls_back_from_a_broken_one() {
        let f = Fixture::new();
        let (old, _, _old_guard) = build_image(&f.sandbox);
        let (new, _new_guard) = derived_image(&old, "LABEL botctl.test=new");
        // Its bot exits at once: the flag does not exist.
        let (broken, _broken_guard) = derived_image(&old, r#"CMD ["serve", "--no-such-flag"]"#);
        let botctl = || runtime_botctl(&f, &old);
        let (live, idle) = (f.create(BOT_A), f.create(BOT_B));
        let _guards = [ContainerGuard(format!("botctl-{live}")), ContainerGuard(format!("botctl-{idle}"))];
        botctl().args(["tenant", "start", &live]).assert().success();
        let image_id = |tag: &str| block_on(engine().image(tag)).unwrap().unwrap().id;
        let running_on = |slug: &str| {
            assert_serving(&format!("botctl-{slug}"));
            block_on(engine().container(&format!("botctl-{slug}"))).unwrap().unwrap().image_id
        };
        let upgrade = |args: &[&str]| {
            let mut cmd = botctl();
            cmd.env("BOTCTL_RUNTIME_HEALTH_TIMEOUT", "20s").args(["tenant", "upgrade", "-o", "json"]).args(args);
            let output = cmd.output().unwrap();
            let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
            let by_tenant = |slug: &str| {
                report["tenants"].as_array().unwrap().iter().find(|t| t["tenant"] == slug).cloned().unwrap_or_default()
            };
            (output.status.code(), by_tenant(&live), by_tenant(&idle), String::from_utf8_lossy(&output.stderr).into_owned())
        };

        // An image the engine does not have: refused before any tenant is touched.
        let missing = botctl().args(["tenant", "upgrade", "--all", "--image", "botctl-missing:none"]).assert().code(2);
        assert!(
            String::from_utf8_lossy(&missing.get_output().stderr).contains("botctl image build --tag botctl-missing:none")
        );

        // A broken image, for the running tenant alone: its bot goes back to the old image, healthy.
        let (code, live_report, idle_report, stderr) = upgrade(&[&live, "--image", &broken]);
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(live_report["outcome"], "rolled_back", "{live_report}");
        assert_eq!(live_report["from"], old.as_str());
        assert!(live_report["error"].as_str().unwrap().contains("did not become healthy"), "{live_report}");
        assert_eq!(idle_report, Value::Null, "only the named tenant");
        assert_eq!(running_on(&live), image_id(&old));
        assert_eq!(f.json(&["tenant", "show", &live])["image"], old.as_str());

        // A good image for the whole fleet: the running bot moves to it, the stopped one will start on it.
        let (code, live_report, idle_report, stderr) = upgrade(&["--all", "--image", &new]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!((live_report["outcome"].as_str(), live_report["running"].as_bool()), (Some("upgraded"), Some(true)));
        assert_eq!((idle_report["outcome"].as_str(), idle_report["running"].as_bool()), (Some("upgraded"), Some(false)));
        assert_eq!(running_on(&live), image_id(&new));
        botctl().args(["tenant", "start", &idle]).assert().success();
        assert_eq!(running_on(&idle), image_id(&new), "a stopped tenant starts on the image it was upgraded to");

        // The same again changes nothing.
        let (code, live_report, idle_report, _) = upgrade(&["--all", "--image", &new]);
        assert_eq!(code, Some(0));
        assert_eq!((live_report["outcome"].as_str(), idle_report["outcome"].as_str()), (Some("current"), Some("current")));
        let events = f.json(&["events", &live]);
        let upgrades: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["action"] == "tenant.upgrade").collect();
        assert_eq!(upgrades.len(), 2, "{events}");
        assert_eq!(upgrades[0]["details"]["outcome"], "rolled_back");
    }
}

/// A tenant whose bot runs in its container, backed up once: where the restore tests start.
struct RunningBackedUp {
    image: String,
    slug: String,
    dest: tempfile::TempDir,
    archive: std::path::PathBuf,
    // Dropped in this order: the container before its image.
    _container_guard: ContainerGuard,
    _image_guard: ImageGuard,
}

impl RunningBackedUp {
    fn new(f: &Fixture) -> Self {
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let _container_guard = ContainerGuard(format!("botctl-{slug}"));
        let dest = tempfile::tempdir().unwrap();
        let mut r = Self { image, slug, dest, archive: Default::default(), _container_guard, _image_guard };
        r.botctl(f).args(["tenant", "start", &r.slug]).assert().success();
        r.botctl(f).args(["backup", &r.slug, "-q"]).assert().success();
        r.archive = botctl::backup::list(&r.dest.path().join(&r.slug), &r.slug).unwrap().remove(0).path;
        r
    }

    fn botctl(&self, f: &Fixture) -> assert_cmd::Command {
        let mut cmd = runtime_botctl(f, &self.image);
        cmd.env("BOTCTL_BACKUP_DIR", self.dest.path());
        cmd
    }
}

docker_test! {
    fn restore_stops_a_running_bot_and_starts_it_again_on_the_restored_schema() {
        let f = Fixture::new();
        let r = RunningBackedUp::new(&f);
        let (slug, archive, botctl) = (r.slug.clone(), &r.archive, || r.botctl(&f));
        botctl().args(["restore", &slug, "--from", archive.to_str().unwrap(), "--force", "--yes"]).assert().success();

        let events = f.json(&["events", &slug]);
        let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        let tail: Vec<&str> = actions.iter().rev().take(3).rev().copied().collect();
        assert_eq!(tail, ["tenant.stop", "tenant.restore", "tenant.start"], "{actions:?}");
        assert_serving(&format!("botctl-{slug}"));
        assert_eq!(f.json(&["tenant", "show", &slug])["status"], "running");
        // The bot answers from the restored schema.
        bot_answers(&f, 7701);
    }
}

docker_test! {
    fn a_refused_restore_leaves_the_running_bot_alone() {
        let f = Fixture::new();
        let r = RunningBackedUp::new(&f);
        let (slug, archive, botctl) = (r.slug.clone(), &r.archive, || r.botctl(&f));
        let events_before = f.json(&["events", &slug]);
        let id_before = block_on(engine().container(&format!("botctl-{slug}"))).unwrap().unwrap().id;
        f.scalar::<i32>(&format!(
            "WITH c AS (INSERT INTO tenant_{slug}.customers (user_id, first_name) VALUES (42, 'Новый') RETURNING 1) SELECT 1"
        ));
        botctl().args(["restore", &slug, "--from", "/etc/passwd", "--force", "--yes"]).assert().code(2);
        botctl().args(["restore", &slug, "--from", archive.to_str().unwrap()]).assert().code(2);
        botctl().args(["restore", &slug, "--from", archive.to_str().unwrap(), "--force"]).assert().code(2);

        assert_eq!(f.json(&["events", &slug]), events_before, "no stop, start or restore");
        let state = block_on(engine().container(&format!("botctl-{slug}"))).unwrap().unwrap();
        assert_eq!((state.id, state.status.as_str()), (id_before, "running"));
        bot_answers(&f, 7702);
    }
}

docker_test! {
    fn creating_and_starting_a_bots_container_logs_no_secret_at_any_level() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = unique_slug();
        let name = format!("botctl-{slug}");
        let _container_guard = ContainerGuard(name.clone());
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let password = || {
            let inspected = block_on(docker.inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>));
            let env = inspected.unwrap().config.unwrap().env.unwrap();
            let url = env.iter().find_map(|e| e.strip_prefix("DATABASE_URL=")).unwrap().to_string();
            url::Url::parse(&url).unwrap().password().unwrap().to_string()
        };
        let text = |output: &std::process::Output| {
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
        };
        // -vv: the role is made, its password set, the container created with BOT_TOKEN and DATABASE_URL.
        let created = runtime_botctl(&f, &image)
            .args(["-vv", "tenant", "create", &slug, "--token", &token(BOT_A), "--admin", "1", "--template", "clinic"])
            .assert()
            .success()
            .get_output()
            .clone();
        crate::secrets::assert_no_secret(&text(&created), &[&token(BOT_A), &password()]);
        // BOTCTL_LOG=trace: the container is made again, with a rotated password.
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::default().force(true).build();
        block_on(docker.remove_container(&name, Some(options))).unwrap();
        let started = runtime_botctl(&f, &image)
            .args(["tenant", "start", &slug])
            .env("BOTCTL_LOG", "trace")
            .assert()
            .success()
            .get_output()
            .clone();
        crate::secrets::assert_no_secret(&text(&started), &[&token(BOT_A), &password()]);
        // The statements that set the password were logged, without it.
        for output in [&created, &started] {
            assert!(text(output).contains("PASSWORD '***'"), "not loud: {}", text(output));
        }
    }
}

docker_test! {
    fn a_start_refused_by_a_connection_limit_names_it_fails_fast_and_leaves_running_bots_alone() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let botctl = || runtime_botctl(&f, &image);
        let (running, refused) = (f.create(BOT_A), f.create(BOT_B));
        let _guards = [ContainerGuard(format!("botctl-{running}")), ContainerGuard(format!("botctl-{refused}"))];
        botctl().args(["tenant", "start", &running]).assert().success();
        let id_before = block_on(engine().container(&format!("botctl-{running}"))).unwrap().unwrap().id;

        // The server lets the tenant's role in no more: its own CONNECTION LIMIT (filling the shared test
        // server's max_connections would refuse the other tests too; that wording has a unit test).
        let role = format!("tenant_{refused}");
        block_on(async {
            let mut admin = crate::support::admin().await;
            sqlx::Executor::execute(&mut admin, sqlx::AssertSqlSafe(format!("ALTER ROLE \"{role}\" CONNECTION LIMIT 0")))
                .await
                .unwrap();
        });
        // A generous timeout: the refusal must end the wait long before it.
        let mut cmd = botctl();
        let output = cmd.env("BOTCTL_RUNTIME_HEALTH_TIMEOUT", "5m").args(["tenant", "start", &refused]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("the role's CONNECTION LIMIT is reached"), "{stderr}");
        assert!(stderr.contains(&format!("role {role}: CONNECTION LIMIT 0")), "{stderr}");
        assert!(stderr.contains("max_connections"), "the server's numbers too: {stderr}");
        assert!(stderr.contains(&format!("botctl tenant start {refused}")), "{stderr}");
        assert_eq!(f.json(&["tenant", "show", &refused])["status"], "stopped");
        assert!(block_on(engine().container(&format!("botctl-{refused}"))).unwrap().is_none(), "its container is removed");

        // The bot that ran before was not touched: the same container, never restarted, answering.
        block_on(async {
            let mut admin = crate::support::admin().await;
            sqlx::Executor::execute(&mut admin, sqlx::AssertSqlSafe(format!("ALTER ROLE \"{role}\" CONNECTION LIMIT -1")))
                .await
                .unwrap();
        });
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let inspected = block_on(docker.inspect_container(
            &format!("botctl-{running}"),
            None::<bollard::query_parameters::InspectContainerOptions>,
        ))
        .unwrap();
        assert_eq!((inspected.id.as_deref(), inspected.restart_count), (Some(id_before.as_str()), Some(0)));
        assert_serving(&format!("botctl-{running}"));
        bot_answers(&f, 7801);
        // Freed, the refused tenant starts.
        botctl().args(["tenant", "start", &refused]).assert().success();
        assert_serving(&format!("botctl-{refused}"));
    }
}

docker_test! {
    fn a_credit_to_a_suspended_tenant_starts_its_bot_through_tenant_starts_path() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let name = format!("botctl-{slug}");
        let _container_guard = ContainerGuard(name.clone());
        // As the clock leaves it: grace over, the bot stopped (never started here: no container at all).
        f.execute_sql(&format!(
            "UPDATE botctl.subscriptions SET state = 'suspended', paid_until = now() - interval '10 days', \
             grace_until = now() - interval '7 days' WHERE tenant_id = (SELECT id FROM botctl.tenants WHERE slug = '{slug}')"
        ));
        let output = runtime_botctl(&f, &image)
            .args(["billing", "credit", &slug, "--plan", "1m", "--amount", "299RUB", "--reference", "wake-up", "-o", "json"])
            .assert()
            .success();
        let credited: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
        assert_eq!((credited["state_before"].as_str(), credited["state"].as_str()), (Some("suspended"), Some("active")));
        assert_eq!(credited["bot_started"], Value::Bool(true), "{credited}");
        assert_serving(&name);
        bot_answers(&f, 4242);
        assert_eq!(f.json(&["tenant", "show", &slug])["status"], "running");
        assert!(!f.scalar::<bool>("SELECT start_pending FROM botctl.subscriptions"), "the start is done: nothing to retry");
        let started: i64 = f.scalar(&format!(
            "SELECT count(*) FROM botctl.events WHERE tenant = '{slug}' AND action = 'tenant.start'"
        ));
        assert_eq!(started, 1, "the same operation as `tenant start`, with its event");
    }
}

docker_test! {
    fn the_platform_clock_stops_a_suspended_bot_after_its_notice_and_starts_it_again_once_paid() {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;

        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let name = format!("botctl-{slug}");
        let _container = ContainerGuard(name.clone());
        runtime_botctl(&f, &image).args(["tenant", "start", &slug]).assert().success();
        let status = || f.scalar::<String>(&format!("SELECT status FROM botctl.tenants WHERE slug = '{slug}'"));
        assert_eq!(status(), "running");
        // Grace ended a minute ago: the clock suspends the tenant at its first wake.
        let sql = format!(
            "INSERT INTO botctl.subscriptions (tenant_id, state, paid_until, grace_until) \
             SELECT id, 'grace', now() - interval '3 days 1 minute', now() - interval '1 minute' \
             FROM botctl.tenants WHERE slug = '{slug}' ON CONFLICT (tenant_id) DO UPDATE SET state = 'grace', \
             paid_until = excluded.paid_until, grace_until = excluded.grace_until"
        );
        let mut admin = f.db.connect();
        block_on(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin)).unwrap();

        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut daemon = runtime_process(&f, &image)
            .args(["platform", "serve"])
            .env("BOTCTL_PLATFORM_LISTEN", listen.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let state = || {
            f.scalar::<String>(&format!(
                "SELECT s.state FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id WHERE t.slug = '{slug}'"
            ))
        };
        assert!(f.eventually(|| state() == "suspended"), "never suspended");
        // The bot keeps running while its suspension notice waits in its outbox (the bot finds it at
        // its rescan, minutes away): the test lets the rows go as sent would, and wakes the clock.
        let pending = format!("SELECT count(*) FROM tenant_{slug}.outbox WHERE kind = 'billing' AND state = 'pending'");
        assert_eq!(f.scalar::<i64>(&pending), 2, "one suspension notice per owner");
        assert_eq!(status(), "running", "not stopped before its notice is out");
        let sent = format!(
            "UPDATE tenant_{slug}.outbox SET state = 'sent', sent_at = now() WHERE kind = 'billing'; \
             SELECT pg_notify('{}', '')",
            botctl::billing::WAKE_CHANNEL
        );
        block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sent)).execute(&mut admin)).unwrap();
        assert!(f.eventually(|| status() == "stopped"), "the suspended bot was never stopped");
        let container = block_on(engine().container(&name)).unwrap().expect("the container is kept");
        assert_ne!(container.status, "running");
        assert!(f.schema_exists(&slug), "the data is kept");

        // A credit, as `billing credit` commits it for a suspended tenant: the clock starts the bot.
        let credit = format!(
            "UPDATE botctl.subscriptions SET state = 'active', paid_until = now() + interval '30 days', \
             grace_until = NULL, start_pending = true \
             WHERE tenant_id = (SELECT id FROM botctl.tenants WHERE slug = '{slug}'); SELECT pg_notify('{}', '')",
            botctl::billing::WAKE_CHANNEL
        );
        block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(credit)).execute(&mut admin)).unwrap();
        let started = || {
            status() == "running"
                && !f.scalar::<bool>(&format!(
                    "SELECT start_pending FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
                     WHERE t.slug = '{slug}'"
                ))
        };
        assert!(f.eventually(started), "the paid bot was never started");
        assert_serving(&name);

        kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM).unwrap();
        assert_eq!(daemon.wait().unwrap().code(), Some(0));
        runtime_botctl(&f, &image).args(["tenant", "delete", &slug, "--yes"]).assert().success();
    }
}

/// What `Context::runtime_options` makes from the fixture's settings, for calling the library directly.
pub(crate) fn runtime_options(
    f: &Fixture,
    pool: &sqlx::PgPool,
    image: &str,
) -> botctl::tenant::runtime::RuntimeOptions {
    use botctl::tenant::runtime::DatabaseAccess;
    let port = crate::support::server_url().port().unwrap_or(5432);
    let host = containers_database_host();
    let database = match host.rsplit_once(':') {
        _ if host.starts_with('/') => {
            DatabaseAccess::Socket { dir: host.clone().into(), port, database: f.db.name.clone() }
        }
        Some((h, p)) => {
            DatabaseAccess::Tcp { host: h.to_string(), port: p.parse().unwrap(), database: f.db.name.clone() }
        }
        None => DatabaseAccess::Tcp { host, port, database: f.db.name.clone() },
    };
    botctl::tenant::runtime::RuntimeOptions {
        installation: block_on(botctl::db::control::installation(pool)).unwrap(),
        image: image.to_string(),
        network: "host".to_string(),
        database,
        memory_mb: 128,
        cpus: 1.0,
        health_timeout: Duration::from_secs(60),
        health_interval: Duration::from_secs(600),
        telegram_api_url: f.api.parse().unwrap(),
        rate_limits: true,
    }
}

docker_test! {
    fn the_lifecycle_library_creates_restarts_and_deletes_a_running_bot_as_the_cli_does() {
        use botctl::progress::NoProgress;
        use botctl::tenant::TenantSlug;
        use botctl::tenant::lifecycle::{self, DeleteOptions};

        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug: TenantSlug = unique_slug().parse().unwrap();
        let name = format!("botctl-{slug}");
        let _container_guard = ContainerGuard(name.clone());
        let pool = block_on(sqlx::PgPool::connect(&f.db.url())).unwrap();
        let engine = engine();
        let runtime = runtime_options(&f, &pool, &image);
        let create = f.create_options(&slug, BOT_A);
        let actor = "operator 42";
        let start = Some((&engine, &runtime));
        let complimentary = botctl::billing::Start::Complimentary;
        let tenant = block_on(lifecycle::create(&crate::support::servers(&pool), &create, &complimentary, start, actor, &NoProgress)).unwrap();
        assert_eq!(tenant.status, "running");
        assert_serving(&name);
        bot_answers(&f, 7001);

        let id = block_on(engine.container(&name)).unwrap().unwrap().id;
        let restarted = block_on(lifecycle::start(&crate::support::servers(&pool), &engine, &slug, &runtime, true, actor, &NoProgress)).unwrap();
        assert!(!restarted.created, "a restart keeps the container");
        assert_eq!(block_on(engine.container(&name)).unwrap().unwrap().id, id);
        assert_serving(&name);

        let dest = tempfile::tempdir().unwrap();
        let options = DeleteOptions { final_backup: Some(dest.path().to_path_buf()) };
        let deleted = block_on(lifecycle::delete(&crate::support::servers(&pool), Ok(&engine), &slug, &options, actor, &NoProgress)).unwrap();
        assert_eq!((deleted.resumed, deleted.warning.as_deref()), (false, None));
        let archive = deleted.final_backup.unwrap();
        assert!(archive.starts_with(dest.path().to_str().unwrap()) && std::path::Path::new(&archive).is_file());
        assert!(block_on(engine.container(&name)).unwrap().is_none(), "the container is gone");
        assert!(!f.schema_exists(slug.as_str()) && !f.role_exists(slug.as_str()));
        let events = f.json(&["events", slug.as_str()]);
        let done: Vec<(&str, &str)> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
            .collect();
        let expected = ["tenant.create", "tenant.start", "tenant.stop", "tenant.start", "tenant.delete.begin", "tenant.delete"];
        assert_eq!(done, expected.map(|action| (action, actor)));
    }
}
