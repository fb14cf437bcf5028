//! Tenant bots as Docker Swarm services (`runtime.mode: swarm`) on a one-node swarm that these tests
//! make on the test engine and leave again. An engine already in a swarm is used as it is and never
//! left; an engine that refuses to make one skips the tests with the reason, except under
//! BOTCTL_REQUIRE_DOCKER=1.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::Docker;
use bollard::models::{
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, SwarmInitRequest,
    TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::{InspectServiceOptions, LeaveSwarmOptionsBuilder, ListSecretsOptionsBuilder};
use serde_json::Value;

use crate::needs_docker::{build_image, docker_test, engine, runtime_botctl};
use crate::support::{block_on, http, token};
use crate::tenant::{BOT_A, BOT_B, Fixture};

/// How many tests use the swarm now, and whether these tests made it (then the last one leaves it).
static SWARM: Mutex<(usize, bool)> = Mutex::new((0, false));

/// One test's use of the one-node swarm: the first makes it, the last to drop leaves it (also when a
/// test fails, as the guard drops while unwinding).
struct SwarmGuard;

impl SwarmGuard {
    /// `None` (said on stderr) when the engine refuses a swarm and the engine is not required.
    fn take() -> Option<Self> {
        let mut users = SWARM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if users.0 == 0 {
            let docker = Docker::connect_with_defaults().unwrap();
            let info = block_on(docker.info()).unwrap();
            let swarm = info.swarm.unwrap_or_default();
            if swarm.local_node_state == Some(bollard::models::LocalNodeState::ACTIVE) {
                assert_eq!(swarm.control_available, Some(true), "the engine is in a swarm it does not manage");
                users.1 = false;
            } else {
                let request = SwarmInitRequest {
                    advertise_addr: Some("127.0.0.1".into()),
                    listen_addr: Some("127.0.0.1:2377".into()),
                    ..Default::default()
                };
                if let Err(e) = block_on(docker.init_swarm(request)) {
                    let required = std::env::var("BOTCTL_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
                    assert!(!required, "the engine refused `swarm init` under BOTCTL_REQUIRE_DOCKER=1: {e}");
                    eprintln!("skipped: the Docker engine refused `swarm init` ({e})");
                    return None;
                }
                users.1 = true;
            }
        }
        users.0 += 1;
        Some(SwarmGuard)
    }
}

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        let mut users = SWARM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        users.0 -= 1;
        if users.0 == 0 && users.1 {
            let docker = Docker::connect_with_defaults().unwrap();
            let options = LeaveSwarmOptionsBuilder::default().force(true).build();
            if let Err(e) = block_on(docker.leave_swarm(Some(options))) {
                eprintln!("could not leave the test swarm: {e}");
            }
            users.1 = false;
        }
    }
}

/// Removes a test's service and the secrets of its tenant however the test ends.
struct ServiceGuard(String);

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        let docker = Docker::connect_with_defaults().unwrap();
        let _ = block_on(docker.delete_service(&self.0));
        // The tasks go after the service; their secrets can go once the service is gone.
        for name in secrets_of(&self.0) {
            let _ = block_on(docker.delete_secret(&name));
        }
    }
}

/// botctl for the fixture's tenants in swarm mode, running them from `image`.
fn swarm_botctl(f: &Fixture, image: &str) -> assert_cmd::Command {
    let mut cmd = runtime_botctl(f, image);
    cmd.env("BOTCTL_RUNTIME_MODE", "swarm")
        .env("BOTCTL_RUNTIME_PLACEMENT", "node.role==manager")
        // Short, so that a bot that never gets healthy is rolled back soon.
        .env("BOTCTL_RUNTIME_HEALTH_TIMEOUT", "20s");
    cmd
}

fn service(name: &str) -> Option<bollard::models::Service> {
    let docker = Docker::connect_with_defaults().unwrap();
    block_on(docker.inspect_service(name, None::<InspectServiceOptions>)).ok()
}

/// The names of the secrets of service `name`'s tenant (by the tenant label its name carries).
fn secrets_of(name: &str) -> Vec<String> {
    let docker = Docker::connect_with_defaults().unwrap();
    let tenant = name.trim_start_matches("botctl-");
    let filters = HashMap::from([("label".to_string(), vec![format!("botctl.tenant={tenant}")])]);
    let options = ListSecretsOptionsBuilder::default().filters(&filters).build();
    let mut names: Vec<String> = block_on(docker.list_secrets(Some(options)))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.spec?.name)
        .collect();
    names.sort();
    names
}

/// The secrets the service's spec names, sorted.
fn secrets_named(name: &str) -> Vec<String> {
    let spec = service(name).unwrap().spec.unwrap();
    let mut names: Vec<String> = spec
        .task_template
        .unwrap()
        .container_spec
        .unwrap()
        .secrets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.secret_name)
        .collect();
    names.sort();
    names
}

/// The image tag the service names.
fn service_image(name: &str) -> String {
    let spec = service(name).unwrap().spec.unwrap();
    let image = spec.task_template.unwrap().container_spec.unwrap().image.unwrap();
    image.split('@').next().unwrap().to_string()
}

/// Waits until Swarm counts a task of the service running (its healthcheck passed): Swarm shows a
/// task's logs only from then on.
fn swarm_counts_running(name: &str) {
    let docker = Docker::connect_with_defaults().unwrap();
    let filters = HashMap::from([("service".to_string(), vec![name.to_string()])]);
    let options = bollard::query_parameters::ListTasksOptionsBuilder::default().filters(&filters).build();
    for _ in 0..600 {
        let tasks = block_on(docker.list_tasks(Some(options.clone()))).unwrap();
        let running = |t: &bollard::models::Task| {
            t.status.as_ref().and_then(|s| s.state) == Some(bollard::models::TaskState::RUNNING)
        };
        if tasks.iter().any(running) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no task of {name} is running");
}

/// The API version the test engine speaks.
fn engine_api() -> (usize, usize) {
    let version = block_on(engine().info()).unwrap().api_version;
    let (major, minor) = version.split_once('.').unwrap();
    (major.parse().unwrap(), minor.parse().unwrap())
}

/// The id of the running container of the service's task (one replica, on this node).
fn task_container(name: &str) -> String {
    let filter = format!("label=com.docker.swarm.service.name={name}");
    let output =
        std::process::Command::new("docker").args(["ps", "-q", "--no-trunc", "--filter", &filter]).output().unwrap();
    let ids = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(!ids.is_empty() && !ids.contains('\n'), "one running task container of {name}: {ids:?}");
    ids
}

/// What the engine says of a container's Docker health (`null` without a healthcheck).
fn docker_health(container: &str) -> Value {
    let output = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{json .State.Health}}", container])
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The execs the engine made in the containers of the service's tasks between two Unix times.
fn execs(name: &str, since: u64, until: u64) -> Vec<String> {
    let filter = format!("label=com.docker.swarm.service.name={name}");
    let (since, until) = (since.to_string(), until.to_string());
    let output = std::process::Command::new("docker")
        .args(["events", "--since", &since, "--until", &until, "--filter", "event=exec_create", "--filter", &filter])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Asks the running bot's `/healthz`, where its service's label says it listens (host networking).
#[track_caller]
fn serving(name: &str) {
    let labels = service(name).unwrap().spec.unwrap().labels.unwrap();
    let addr = labels["botctl.http"].clone();
    let status = block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.get(format!("http://{addr}/healthz")).send().await.map(|r| r.status().as_u16())
    });
    if status.as_ref().ok() != Some(&200) {
        let tasks = std::process::Command::new("docker").args(["service", "ps", "--no-trunc", name]).output().unwrap();
        panic!("{name} does not answer /healthz at {addr} ({status:?}):\n{}", String::from_utf8_lossy(&tasks.stdout));
    }
}

/// Waits until a new customer's /start to `bot` is answered.
fn bot_answers(f: &Fixture, bot: i64, user_id: i64) {
    let user = botctl::telegram::emulator::TgUser::new(user_id, "Customer");
    f.emulator.send_text(&token(bot), &user, "/start");
    let answered = |chat: &[botctl::telegram::emulator::ChatMessage]| chat.iter().any(|m| m.from_bot);
    block_on(f.emulator.wait_until(&token(bot), user.id, answered, std::time::Duration::from_secs(60))).unwrap();
}

/// Runs botctl, requiring success, and returns stdout and stderr: neither may hold the bot's token.
fn run(cmd: &mut assert_cmd::Command, secret: &str) -> (String, String) {
    let output = cmd.assert().success().get_output().clone();
    let (out, err) =
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned());
    assert!(!out.contains(secret) && !err.contains(secret), "a secret in botctl's output: {out}\n{err}");
    (out, err)
}

docker_test! {
    fn a_tenant_runs_as_a_swarm_service_through_start_stop_restart_limits_upgrade_logs_and_delete() {
        let Some(_swarm) = SwarmGuard::take() else { return };
        let f = Fixture::new();
        let (old, _, _old_guard) = build_image(&f.sandbox);
        // Its own HEALTHCHECK, every second, is what a service must override where botctl checks health.
        let (new, _new_guard) = crate::needs_docker::derived_image(
            &old,
            "LABEL botctl.test=new\nHEALTHCHECK --interval=1s CMD [\"/usr/local/bin/botctl\", \"health\"]",
        );
        // Its bot runs but listens where its healthcheck does not ask: it never gets healthy.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (sick, _sick_guard) = crate::needs_docker::derived_image(
            &old,
            &format!(r#"CMD ["serve", "--http-addr", "127.0.0.1:{port}"]"#),
        );
        let slug = f.create(BOT_A);
        let name = format!("botctl-{slug}");
        let _service_guard = ServiceGuard(name.clone());
        let botctl = || swarm_botctl(&f, &old);
        let secret = token(BOT_A);
        // Docker checks a service's health only from API 1.44 (with a fast first check); before, botctl.
        let docker_checks = engine_api() >= (1, 44);

        let (out, _) = run(botctl().args(["tenant", "start", &slug, "-o", "json"]), &secret);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["created"], true);
        assert_eq!(f.json(&["tenant", "show", &slug])["status"], "running");
        let found = service(&name).expect("the tenant's service");
        let spec = found.spec.clone().unwrap();
        let labels = spec.labels.clone().unwrap();
        let installation: String = f.scalar("SELECT id::text FROM botctl.installation");
        assert_eq!(labels["botctl.managed"], "true");
        assert_eq!(labels["botctl.tenant"], slug);
        assert_eq!(labels["botctl.installation"], installation);
        assert_eq!(labels["botctl.version"], env!("CARGO_PKG_VERSION"));
        assert!(labels["botctl.http"].starts_with("127.0.0.1:"), "{labels:?}");
        assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(1));
        let template = spec.task_template.clone().unwrap();
        let container = template.container_spec.clone().unwrap();
        assert_eq!(container.labels.unwrap()["botctl.tenant"], slug, "the task's container is labelled too");
        assert_eq!(template.restart_policy.unwrap().condition, Some(TaskSpecRestartPolicyConditionEnum::ANY));
        let limits = template.resources.unwrap().limits.unwrap();
        assert_eq!((limits.memory_bytes, limits.nano_cpus), (Some(128 << 20), Some(1_000_000_000)));
        assert_eq!(template.placement.unwrap().constraints.unwrap(), ["node.role==manager"]);
        assert_eq!(template.log_driver.unwrap().options.unwrap()["max-size"], "10m");
        let update = spec.update_config.unwrap();
        assert_eq!(update.order, Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST));
        assert_eq!(update.failure_action, Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK));
        // The secrets are files, not environment: the URL carries no password, the token is nowhere.
        let env = container.env.unwrap();
        let database_url = env.iter().find_map(|e| e.strip_prefix("DATABASE_URL=")).unwrap();
        let parsed = url::Url::parse(database_url).unwrap();
        assert_eq!((parsed.username(), parsed.password()), (format!("tenant_{slug}").as_str(), None), "{database_url}");
        assert!(env.contains(&"DATABASE_PASSWORD_FILE=/run/secrets/database_password".to_string()), "{env:?}");
        assert!(env.contains(&"BOT_TOKEN_FILE=/run/secrets/bot_token".to_string()), "{env:?}");
        // What the engine itself says (bollard's model misses the spec's `Healthcheck`).
        let inspected = std::process::Command::new("docker").args(["service", "inspect", &name]).output().unwrap();
        let inspected: Value = serde_json::from_slice(&inspected.stdout).unwrap();
        let check = &inspected[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Healthcheck"];
        if docker_checks {
            assert_eq!(check["Test"], serde_json::json!(["CMD", "/usr/local/bin/botctl", "health"]), "{inspected}");
            assert_eq!(check["Interval"], 600_000_000_000_u64, "the containers' interval: {inspected}");
            assert_eq!(check["StartInterval"], 1_000_000_000_u64, "a fast first check: {inspected}");
        } else {
            // No Docker healthcheck at all (one every few seconds would cost each idle bot an exec).
            assert_eq!(check["Test"], serde_json::json!(["NONE"]), "{inspected}");
            assert_eq!(docker_health(&task_container(&name)), Value::Null, "Docker does not check the task");
        }
        assert!(!inspected.to_string().contains(&secret), "no token in the service");
        let first = secrets_named(&name);
        assert_eq!(first.len(), 2, "{first:?}");
        assert_eq!(secrets_of(&name), first, "the tenant's secrets are the ones its service names");

        bot_answers(&f, BOT_A, 7701);
        serving(&name);
        let listed = f.json(&["tenant", "list"]);
        let me = listed.as_array().unwrap().iter().find(|t| t["slug"] == slug.as_str()).unwrap().clone();
        assert_eq!(me["container"]["status"], "running", "{me}");
        swarm_counts_running(&name);
        let (logs, _) = run(botctl().args(["logs", &slug, "--tail", "50"]), &secret);
        assert!(logs.contains("serving"), "{logs}");

        // Stop: no replica, no task; a second stop is harmless.
        run(botctl().args(["tenant", "stop", &slug]), &secret);
        assert_eq!(f.json(&["tenant", "show", &slug])["status"], "stopped");
        let replicas = service(&name).unwrap().spec.unwrap().mode.unwrap().replicated.unwrap().replicas;
        assert_eq!(replicas, Some(0));
        run(botctl().args(["tenant", "stop", &slug]), &secret);

        // Start again: made anew with a new password in new secrets; the old secrets are gone.
        let (out, _) = run(botctl().args(["tenant", "start", &slug, "-o", "json"]), &secret);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["created"], true);
        let second = secrets_named(&name);
        assert!(second.iter().all(|s| !first.contains(s)), "{first:?} {second:?}");
        assert_eq!(secrets_of(&name), second);
        serving(&name);
        // Starting a running tenant changes nothing.
        let (out, _) = run(botctl().args(["tenant", "start", &slug, "-o", "json"]), &secret);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["created"], false);
        assert_eq!(secrets_named(&name), second);

        run(botctl().args(["tenant", "restart", &slug]), &secret);
        let third = secrets_named(&name);
        assert!(third.iter().all(|s| !second.contains(s)), "{second:?} {third:?}");
        assert_eq!(secrets_of(&name), third);
        bot_answers(&f, BOT_A, 7702);

        // Limits of its own reach the running service.
        run(botctl().args(["tenant", "update", &slug, "--memory-mb", "96", "--cpus", "0.5"]), &secret);
        let limits = service(&name).unwrap().spec.unwrap().task_template.unwrap().resources.unwrap().limits.unwrap();
        assert_eq!((limits.memory_bytes, limits.nano_cpus), (Some(96 << 20), Some(500_000_000)));
        serving(&name);

        // An upgrade is Swarm's rolling update (stop-first); the image id it names is recorded.
        let upgrade = |image: &str| {
            let output = botctl().args(["tenant", "upgrade", &slug, "--image", image, "-o", "json"]).output().unwrap();
            let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(!stderr.contains(&secret) && !report.to_string().contains(&secret));
            (output.status.code(), report["tenants"][0].clone(), stderr)
        };
        let (code, report, stderr) = upgrade(&new);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!((report["outcome"].as_str(), report["running"].as_bool()), (Some("upgraded"), Some(true)), "{report}");
        assert_eq!(service_image(&name), new);
        let new_id = block_on(engine().image(&new)).unwrap().unwrap().id;
        assert_eq!(service(&name).unwrap().spec.unwrap().labels.unwrap()["botctl.image_id"], new_id);
        // botctl has stopped waiting for the new bot (it may run the healthcheck itself while it waits).
        let idle_from = unix_now() + 1;
        assert_eq!(f.json(&["tenant", "show", &slug])["image"], new.as_str());
        serving(&name);
        let (code, report, _) = upgrade(&new);
        assert_eq!((code, report["outcome"].as_str()), (Some(0), Some("current")));
        let listed = f.json(&["tenant", "list"]);
        let me = listed.as_array().unwrap().iter().find(|t| t["slug"] == slug.as_str()).unwrap().clone();
        if !docker_checks {
            // The update kept the override of the new image's own HEALTHCHECK; the bot's health is what
            // its /healthz says, not Swarm's task state.
            assert_eq!(docker_health(&task_container(&name)), Value::Null, "the image's HEALTHCHECK is overridden");
            assert_eq!((me["container"]["health"].as_str(), me["container"]["health_source"].as_str()), (Some("healthy"), Some("probe")), "{me}");
            // While the bot idles (the image would have Docker check it every second), no exec at all.
            let idle_until = (idle_from + 4).max(unix_now());
            while unix_now() <= idle_until {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            assert_eq!(execs(&name, idle_from, idle_until), Vec::<String>::new(), "Docker ran a healthcheck");
        } else {
            assert_eq!(me["container"]["health"], "healthy", "{me}");
        }

        // A bot that runs but never gets healthy: Swarm sees its task run (and, with Docker's check, never
        // pass it), so botctl rolls the service back itself after the health timeout; the old bot serves.
        let (code, report, stderr) = upgrade(&sick);
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(report["outcome"], "rolled_back", "{report}");
        assert_eq!(report["running"], true, "{report}");
        let error = report["error"].as_str().unwrap();
        assert!(error.contains("did not become healthy") && error.contains("Its last log lines"), "{error}");
        assert!(error.contains("botctl rolled its service back"), "{error}");
        assert_eq!(service_image(&name), new);
        assert_eq!(f.json(&["tenant", "show", &slug])["image"], new.as_str());
        serving(&name);
        bot_answers(&f, BOT_A, 7703);

        // Delete takes the service and its secrets.
        run(botctl().args(["tenant", "delete", &slug, "--yes"]), &secret);
        assert!(service(&name).is_none(), "the service is gone");
        assert_eq!(secrets_of(&name), Vec::<String>::new(), "its secrets are gone");
    }
}

docker_test! {
    fn doctor_reports_the_swarm_and_finds_an_orphan_service_that_fix_removes() {
        let Some(_swarm) = SwarmGuard::take() else { return };
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let botctl = || swarm_botctl(&f, &image);
        let (kept, dropped) = (f.create(BOT_B), f.create(BOT_A));
        let _guards = [ServiceGuard(format!("botctl-{kept}")), ServiceGuard(format!("botctl-{dropped}"))];
        botctl().args(["tenant", "start", &kept]).assert().success();
        botctl().args(["tenant", "start", &dropped]).assert().success();
        // Marked stopped, then deleted while the engine was unreachable: its service stays behind.
        f.scalar::<i32>(&format!("WITH d AS (UPDATE botctl.tenants SET status = 'stopped' WHERE slug = '{dropped}') SELECT 1"));
        let mut delete = botctl();
        delete.env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock");
        delete.args(["tenant", "delete", &dropped, "--yes"]).assert().success();

        let doctor = |extra: &[&str]| {
            let mut cmd = botctl();
            cmd.env("BOTCTL_TELEGRAM_API_URL", http::answering());
            let output = cmd.args(["doctor", "-o", "json"]).args(extra).output().unwrap();
            let checks: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
            let check = |name: &str| checks.iter().find(|c| c["name"] == name).cloned().unwrap_or_default();
            (output.status.code(), check("swarm"), check("containers"), check("running tenants"), output.stderr)
        };
        let (_, swarm, containers, running, stderr) = doctor(&[]);
        let stderr = String::from_utf8_lossy(&stderr);
        assert_eq!(swarm["status"], "ok", "{swarm} {stderr}");
        let message = swarm["message"].as_str().unwrap();
        assert!(message.starts_with("swarm active: 1 node, 1 manager (1 ready)"), "{message}");
        assert_eq!(containers["status"], "warn", "{containers}");
        assert!(containers["message"].as_str().unwrap().contains(&format!("botctl-{dropped} (running")), "{containers}");
        assert_eq!(running["status"], "ok", "{running}");

        let (code, _, containers, _, stderr) = doctor(&["--fix", "--yes"]);
        let stderr = String::from_utf8_lossy(&stderr);
        assert_eq!((code, containers["status"].as_str()), (Some(0), Some("ok")), "{stderr}");
        assert!(service(&format!("botctl-{dropped}")).is_none(), "the orphan service is removed");
        assert_eq!(secrets_of(&format!("botctl-{dropped}")), Vec::<String>::new(), "with its secrets");
        serving(&format!("botctl-{kept}"));
        botctl().args(["tenant", "delete", &kept, "--yes"]).assert().success();
    }
}
