//! Tenant bots as Docker Swarm services: one replicated service per tenant made from the same
//! [`ContainerSpec`] as a plain container, its secrets as Swarm secrets, and idempotent steps on it
//! (inspect first; "already so" is success). Also what `doctor` asks of the swarm.
//!
//! Swarm holds a task `starting` until Docker's healthcheck first passes. From API 1.44 a service gets
//! the containers' rare check with a fast first one (`start_interval`), so Swarm sees a new task's
//! first pass at once and an idle bot is checked every `runtime.health_interval`. Older engines have
//! no fast first check, and a frequent one would cost every idle bot an exec every few seconds: there
//! a service has no Docker healthcheck at all, Swarm counts its task running once its container runs,
//! and botctl decides health itself — the bot's `/healthz`, or the healthcheck command run by exec on
//! a task container of this node — and rolls an upgrade back itself when the new bot does not get
//! healthy. Swarm's own rollback remains for a task that exits while it watches it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use bollard::errors::Error as DockerError;
use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount, MountType, NetworkAttachmentConfig, NodeState,
    SecretSpec, ServiceSpec as SwarmServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, ServiceUpdateStatusStateEnum, Task,
    TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets, TaskSpecLogDriver,
    TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    InspectServiceOptions, ListNodesOptions, ListSecretsOptionsBuilder, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};
use serde::Serialize;

use super::Engine;
use super::container::{
    ContainerSpec, ContainerState, EXEC_EVERY, INSTALLATION, MANAGED, PROBE_EVERY, UNREACHABLE_AFTER, Waited,
    ask_waiting, healthz_address, healthz_client, last_lines, last_options, log_bytes, log_options, not_found,
};

/// The service label that names the image id a service was made or upgraded to: a service names its
/// image by tag, and a tag may since point elsewhere.
pub const IMAGE_ID: &str = "botctl.image_id";
/// The service label that keeps its healthcheck: bollard's model reads the spec's `HealthCheck`, the
/// engine writes `Healthcheck`, so a spec read back lacks it and an update would drop it (and with it
/// the `NONE` that overrides an image's own `HEALTHCHECK`).
const HEALTHCHECK: &str = "botctl.healthcheck";
/// The service label that names the bot's healthcheck command (`CMD …`) when Docker does not run it:
/// botctl runs it by exec when it cannot reach the bot's `/healthz`.
const HEALTH_COMMAND: &str = "botctl.health_command";
/// The first API whose healthcheck has `start_interval`.
const START_INTERVAL_API: (usize, usize) = (1, 44);
/// How often Docker checks a task still `starting`: a bot is healthy about a second after its start.
const START_INTERVAL: Duration = Duration::from_secs(1);
/// Where Swarm mounts a service's secrets.
pub const SECRETS_DIR: &str = "/run/secrets";

/// A secret handed to the service as a file under [`SECRETS_DIR`].
#[derive(Debug, Clone)]
pub struct SecretFile {
    /// The Swarm secret's id and name (the engine wants both).
    pub id: String,
    pub secret: String,
    /// The file's name under [`SECRETS_DIR`].
    pub file: String,
}

/// Everything a tenant's service is made from: the container's spec (its environment holds no secret),
/// its secrets, where it may run, and the image id its tag named when it was made.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub container: ContainerSpec,
    pub secrets: Vec<SecretFile>,
    /// Swarm placement constraints (`node.labels.botctl==yes`).
    pub placement: Vec<String>,
    pub image_id: String,
    /// How long after a task's start Swarm watches it before an update counts it good.
    pub monitor: Duration,
}

/// How waiting for a service update ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated {
    Completed,
    /// Swarm rolled the service back to its previous spec; its message says why.
    RolledBack {
        message: String,
    },
    /// Swarm stopped part-way (a failed rollback, or paused): the message says why.
    Stuck {
        message: String,
    },
    TimedOut,
}

/// What `doctor` reports of the swarm this engine belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct SwarmState {
    /// `inactive`, `pending`, `active`, `error`, `locked`.
    pub state: String,
    /// Whether this engine is a manager (only managers take service commands).
    pub manager: bool,
    pub nodes: i64,
    pub managers: i64,
    /// Nodes whose state is `ready`; known only on a manager.
    pub ready: Option<i64>,
    pub error: Option<String>,
}

const POLL_EVERY: Duration = Duration::from_millis(500);

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Docker's answer for a node that is not a swarm manager (or in no swarm).
fn not_a_manager(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 503, .. })
}

/// The tag a service names, without the digest Swarm may pin to it.
fn tag_of(image: &str) -> &str {
    image.split_once('@').map_or(image, |(tag, _)| tag)
}

/// Who tells that a service's task is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// Docker's healthcheck, rare, with a fast first check (`start_interval`, API 1.44): Swarm counts a
    /// task running once it passed.
    Docker,
    /// No Docker healthcheck (older engines): Swarm counts a task running once its container runs, and
    /// botctl asks the bot.
    Botctl,
}

impl Checks {
    /// What an engine that speaks `api` (negotiated) allows.
    fn for_api(api: (usize, usize)) -> Self {
        if api >= START_INTERVAL_API { Checks::Docker } else { Checks::Botctl }
    }

    /// What a service's labels say it was made with. One without the label was made before services
    /// could go without a check, when every one had Docker's.
    fn of(labels: &HashMap<String, String>) -> Self {
        let kept = labels.get(HEALTHCHECK).and_then(|h| serde_json::from_str::<HealthConfig>(h).ok());
        match kept.and_then(|h| h.test).as_deref() {
            Some([none]) if none == "NONE" => Checks::Botctl,
            _ => Checks::Docker,
        }
    }
}

/// Docker's `CMD` form of the container's healthcheck command.
fn health_command(c: &ContainerSpec) -> Vec<String> {
    std::iter::once("CMD".to_string()).chain(c.healthcheck.iter().cloned()).collect()
}

impl ServiceSpec {
    /// The Swarm spec: one replica (or none), stop-first updates that roll back on a failure, and the
    /// healthcheck `checks` calls for.
    fn swarm(&self, replicas: i64, checks: Checks) -> SwarmServiceSpec {
        let c = &self.container;
        let healthcheck = match checks {
            Checks::Docker => HealthConfig {
                test: Some(health_command(c)),
                interval: Some(nanos(c.health_interval)),
                timeout: Some(nanos(Duration::from_secs(3))),
                retries: Some(2),
                start_period: Some(nanos(c.health_start_period)),
                start_interval: Some(nanos(START_INTERVAL)),
            },
            // Overrides any HEALTHCHECK of the image, which Docker would otherwise run.
            Checks::Botctl => HealthConfig { test: Some(vec!["NONE".to_string()]), ..Default::default() },
        };
        let mut labels = c.labels.clone();
        labels.insert(IMAGE_ID.to_string(), self.image_id.clone());
        labels.insert(HEALTHCHECK.to_string(), serde_json::to_string(&healthcheck).unwrap_or_default());
        labels.insert(HEALTH_COMMAND.to_string(), serde_json::to_string(&health_command(c)).unwrap_or_default());
        let secrets = self
            .secrets
            .iter()
            .map(|s| TaskSpecContainerSpecSecrets {
                file: Some(TaskSpecContainerSpecFile {
                    name: Some(s.file.clone()),
                    // The image runs botctl as nobody; a secret is readable by its owner only.
                    uid: Some("65534".into()),
                    gid: Some("65534".into()),
                    mode: Some(0o400),
                }),
                secret_name: Some(s.secret.clone()),
                secret_id: Some(s.id.clone()),
            })
            .collect();
        let mounts = c
            .mounts
            .iter()
            .map(|m| Mount {
                source: Some(m.source.display().to_string()),
                target: Some(m.target.clone()),
                typ: Some(MountType::BIND),
                read_only: Some(m.read_only),
                ..Default::default()
            })
            .collect();
        let container_spec = TaskSpecContainerSpec {
            image: Some(c.image.clone()),
            labels: Some(c.labels.clone()),
            env: Some(c.env.clone()),
            mounts: Some(mounts),
            stop_signal: Some("SIGTERM".into()),
            stop_grace_period: Some(nanos(c.stop_grace)),
            health_check: Some(healthcheck),
            secrets: Some(secrets),
            ..Default::default()
        };
        let monitor = nanos(self.monitor);
        SwarmServiceSpec {
            name: Some(c.name.clone()),
            labels: Some(labels),
            task_template: Some(TaskSpec {
                container_spec: Some(container_spec),
                resources: Some(TaskSpecResources {
                    limits: Some(Limit {
                        nano_cpus: Some(c.nano_cpus),
                        memory_bytes: Some(c.memory_bytes),
                        pids: None,
                    }),
                    ..Default::default()
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                    delay: Some(nanos(Duration::from_secs(5))),
                    max_attempts: None,
                    window: None,
                }),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(self.placement.clone()),
                    // Never two pollers of one token on one node, whatever the replica count says.
                    max_replicas: Some(1),
                    ..Default::default()
                }),
                log_driver: Some(TaskSpecLogDriver {
                    name: Some("json-file".into()),
                    options: Some(HashMap::from([("max-size".into(), "10m".into()), ("max-file".into(), "3".into())])),
                }),
                networks: Some(vec![NetworkAttachmentConfig { target: Some(c.network.clone()), ..Default::default() }]),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(replicas) }),
                ..Default::default()
            }),
            // One poller per token: the old task stops before the new one starts, both ways.
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: Some(1),
                failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
                monitor: Some(monitor),
                max_failure_ratio: Some(0.0),
                order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
                ..Default::default()
            }),
            rollback_config: Some(ServiceSpecRollbackConfig {
                parallelism: Some(1),
                failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
                monitor: Some(monitor),
                max_failure_ratio: Some(0.0),
                order: Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST),
                ..Default::default()
            }),
            // No virtual IP: this kernel may lack IPVS, and a bot is reached by nobody.
            endpoint_spec: Some(EndpointSpec { mode: Some(EndpointSpecModeEnum::DNSRR), ports: None }),
            ..Default::default()
        }
    }
}

impl Engine {
    /// The swarm this engine belongs to, as `docker info` says, and the nodes' states on a manager.
    pub async fn swarm(&self) -> anyhow::Result<SwarmState> {
        let info = self.docker.info().await.context("cannot read the Docker engine's info")?;
        let swarm = info.swarm.unwrap_or_default();
        let manager = swarm.control_available.unwrap_or(false);
        let ready = if manager {
            let nodes = self.docker.list_nodes(None::<ListNodesOptions>).await.context("cannot list swarm nodes")?;
            let ready =
                nodes.iter().filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY)).count();
            Some(i64::try_from(ready).unwrap_or(i64::MAX))
        } else {
            None
        };
        Ok(SwarmState {
            state: swarm.local_node_state.map_or_else(|| "inactive".to_string(), |s| s.to_string()),
            manager,
            nodes: swarm.nodes.unwrap_or(0),
            managers: swarm.managers.unwrap_or(0),
            ready,
            error: swarm.error.filter(|e| !e.is_empty()),
        })
    }

    /// The service `name` as a [`ContainerState`] (see [`service_state`]); `None` when there is none or
    /// the engine is in no swarm.
    pub async fn service(&self, name: &str) -> anyhow::Result<Option<ContainerState>> {
        let service = match self.docker.inspect_service(name, None::<InspectServiceOptions>).await {
            Ok(s) => s,
            Err(e) if not_found(&e) || not_a_manager(&e) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot inspect service `{name}`")),
        };
        let tasks = self.running_tasks(Some(name)).await?;
        Ok(Some(service_state(service, &tasks)))
    }

    /// Every service this installation made (by label); none when the engine is in no swarm.
    pub async fn managed_services(&self, installation: &str) -> anyhow::Result<Vec<ContainerState>> {
        let labels = vec![format!("{MANAGED}=true"), format!("{INSTALLATION}={installation}")];
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListServicesOptionsBuilder::default().filters(&filters).build();
        let services = match self.docker.list_services(Some(options)).await {
            Ok(s) => s,
            Err(e) if not_a_manager(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e).context("cannot list services"),
        };
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let tasks = self.running_tasks(None).await?;
        Ok(services.into_iter().map(|s| service_state(s, &tasks)).collect())
    }

    /// Tasks whose container runs: `running` (healthy) or `starting` (its first check is ahead).
    async fn running_tasks(&self, service: Option<&str>) -> anyhow::Result<Vec<Task>> {
        let mut filters = HashMap::from([("desired-state".to_string(), vec!["running".to_string()])]);
        if let Some(service) = service {
            filters.insert("service".to_string(), vec![service.to_string()]);
        }
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = self.docker.list_tasks(Some(options)).await.context("cannot list swarm tasks")?;
        Ok(tasks
            .into_iter()
            .filter(|t| matches!(task_state(t), Some(TaskState::RUNNING | TaskState::STARTING)))
            .collect())
    }

    /// Who checks a service's health on this engine: Docker from API 1.44 (negotiated), else botctl.
    pub fn service_checks(&self) -> Checks {
        let v = self.docker.client_version();
        Checks::for_api((v.major_version, v.minor_version))
    }

    /// Makes the service with one replica; returns the time its spec was written (tasks made for it
    /// are younger).
    pub async fn create_service(&self, spec: &ServiceSpec) -> anyhow::Result<String> {
        let name = &spec.container.name;
        self.docker
            .create_service(spec.swarm(1, self.service_checks()), None)
            .await
            .with_context(|| format!("cannot create service `{name}`"))?;
        self.updated_at(name).await
    }

    async fn updated_at(&self, name: &str) -> anyhow::Result<String> {
        let service = self
            .docker
            .inspect_service(name, None::<InspectServiceOptions>)
            .await
            .with_context(|| format!("cannot inspect service `{name}`"))?;
        Ok(service.updated_at.unwrap_or_default())
    }

    /// Changes the service's spec with `change`, under Swarm's optimistic concurrency (a concurrent
    /// change makes the engine refuse the old version; then it is read again).
    async fn change_service(&self, name: &str, change: impl Fn(&mut SwarmServiceSpec)) -> anyhow::Result<()> {
        self.write_service(name, false, change).await
    }

    /// Puts the service back to the spec it had before its last change (Swarm keeps it), as
    /// `docker service rollback` does; Swarm replaces its task as for an update (stop-first).
    pub async fn rollback_service(&self, name: &str) -> anyhow::Result<()> {
        self.write_service(name, true, |_| {}).await
    }

    /// Writes the service's spec, changed by `change`, or asks for its previous one (`rollback`: the
    /// engine still wants a valid spec in the body, and ignores it).
    async fn write_service(
        &self,
        name: &str,
        rollback: bool,
        change: impl Fn(&mut SwarmServiceSpec),
    ) -> anyhow::Result<()> {
        for _ in 0..5 {
            let service = self
                .docker
                .inspect_service(name, None::<InspectServiceOptions>)
                .await
                .with_context(|| format!("cannot inspect service `{name}`"))?;
            let version = service.version.and_then(|v| v.index).unwrap_or_default();
            let mut spec = service.spec.unwrap_or_default();
            let kept = spec.labels.as_ref().and_then(|l| serde_json::from_str(l.get(HEALTHCHECK)?).ok());
            if let Some(c) = spec.task_template.as_mut().and_then(|t| t.container_spec.as_mut()) {
                c.health_check = c.health_check.take().or(kept);
            }
            change(&mut spec);
            let mut options =
                UpdateServiceOptionsBuilder::default().version(i32::try_from(version).unwrap_or(i32::MAX));
            if rollback {
                options = options.rollback("previous");
            }
            let options = options.build();
            match self.docker.update_service(name, spec, options, None).await {
                Ok(_) => return Ok(()),
                Err(DockerError::DockerResponseServerError { message, .. }) if message.contains("out of sequence") => {}
                Err(e) => {
                    let what = if rollback { "roll back" } else { "update" };
                    return Err(e).with_context(|| format!("cannot {what} service `{name}`"));
                }
            }
        }
        anyhow::bail!("service `{name}` kept changing under botctl; try again")
    }

    /// Scales the service to `replicas` (0 stops its bot) and, at 0, waits until no task of it runs:
    /// one poller per token means the old bot is gone when this returns.
    pub async fn scale_service(&self, name: &str, replicas: i64, timeout: Duration) -> anyhow::Result<()> {
        let current = self.docker.inspect_service(name, None::<InspectServiceOptions>).await;
        let current = match current {
            Ok(s) => s,
            Err(e) if not_found(&e) || not_a_manager(&e) => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot inspect service `{name}`")),
        };
        let now = current.spec.and_then(|s| s.mode).and_then(|m| m.replicated).and_then(|r| r.replicas);
        if now != Some(replicas) {
            self.change_service(name, |spec| {
                spec.mode = Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(replicas) }),
                    ..Default::default()
                });
            })
            .await?;
        }
        if replicas == 0 {
            let deadline = tokio::time::Instant::now() + timeout;
            while !self.live_tasks(name).await?.is_empty() {
                if tokio::time::Instant::now() >= deadline {
                    anyhow::bail!(
                        "the task of service `{name}` did not stop in {}",
                        humantime::format_duration(timeout)
                    );
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
        Ok(())
    }

    /// Tasks of the service whose container may still run.
    async fn live_tasks(&self, name: &str) -> anyhow::Result<Vec<Task>> {
        let filters = HashMap::from([("service".to_string(), vec![name.to_string()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = match self.docker.list_tasks(Some(options)).await {
            Ok(t) => t,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot list the tasks of `{name}`")),
        };
        Ok(tasks
            .into_iter()
            .filter(|t| {
                task_state(t).is_some_and(|s| {
                    !matches!(
                        s,
                        TaskState::COMPLETE
                            | TaskState::SHUTDOWN
                            | TaskState::FAILED
                            | TaskState::REJECTED
                            | TaskState::ORPHANED
                            | TaskState::REMOVE
                    )
                })
            })
            .collect())
    }

    /// Moves the service to another image (a rolling update: stop-first, rolled back by Swarm when
    /// the new task fails), recording the image id it names now.
    pub async fn update_service_image(&self, name: &str, image: &str, image_id: &str) -> anyhow::Result<()> {
        self.change_service(name, |spec| {
            if let Some(c) = spec.task_template.as_mut().and_then(|t| t.container_spec.as_mut()) {
                c.image = Some(image.to_string());
            }
            spec.labels.get_or_insert_default().insert(IMAGE_ID.to_string(), image_id.to_string());
        })
        .await
    }

    /// Changes the service's memory and CPU limits: Swarm replaces its task (stop-first) to apply them.
    pub async fn update_service_limits(&self, name: &str, memory_bytes: i64, nano_cpus: i64) -> anyhow::Result<()> {
        self.change_service(name, |spec| {
            let template = spec.task_template.get_or_insert_default();
            let resources = template.resources.get_or_insert_default();
            resources.limits = Some(Limit { nano_cpus: Some(nano_cpus), memory_bytes: Some(memory_bytes), pids: None });
        })
        .await
    }

    /// Waits until the update Swarm runs on the service ends, or `timeout` passes. Docker resets the
    /// update status with the spec, so a status read afterwards is this update's.
    pub async fn wait_service_update(&self, name: &str, timeout: Duration) -> anyhow::Result<Updated> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let service = self
                .docker
                .inspect_service(name, None::<InspectServiceOptions>)
                .await
                .with_context(|| format!("cannot inspect service `{name}`"))?;
            let status = service.update_status.unwrap_or_default();
            let message = status.message.unwrap_or_default();
            match status.state {
                Some(ServiceUpdateStatusStateEnum::COMPLETED) => return Ok(Updated::Completed),
                Some(ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED) => return Ok(Updated::RolledBack { message }),
                Some(ServiceUpdateStatusStateEnum::PAUSED | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED) => {
                    return Ok(Updated::Stuck { message });
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Updated::TimedOut);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Waits until a task of the service made since `since` (the time its spec was written; empty: its
    /// newest task) is healthy, a task fails, `refused` says the database error its `/healthz` reports
    /// will not pass by waiting, or `timeout` passes. The bot's `/healthz`, when it can be reached from
    /// here, answers first. Otherwise, with Docker's check ([`Checks::Docker`]) Swarm counting the task
    /// running means it passed; without it, a task running on this engine's node has the bot's
    /// healthcheck command run in its container now and then (as [`Engine::wait_healthy`] does), and
    /// one running on another node cannot be checked from here: after it has run a moment that is
    /// [`Waited::Unconfirmed`], not healthy.
    pub async fn wait_service_healthy(
        &self,
        name: &str,
        since: &str,
        timeout: Duration,
        refused: &(dyn Fn(&str) -> bool + Sync),
    ) -> anyhow::Result<Waited> {
        let start = tokio::time::Instant::now();
        let deadline = start + timeout;
        let since = chrono::DateTime::parse_from_rfc3339(since).ok();
        let labels = match self.docker.inspect_service(name, None::<InspectServiceOptions>).await {
            Ok(s) => s.spec.and_then(|s| s.labels).unwrap_or_default(),
            Err(e) if not_found(&e) => return Ok(Waited::Unhealthy { status: "removed".into() }),
            Err(e) => return Err(e).with_context(|| format!("cannot inspect service `{name}`")),
        };
        let checks = Checks::of(&labels);
        let command: Vec<String> =
            labels.get(HEALTH_COMMAND).and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
        let here = self.docker.info().await.ok().and_then(|i| i.swarm?.node_id).filter(|n| !n.is_empty());
        let client = healthz_client()?;
        let (mut next_list, mut next_exec) = (start, start + UNREACHABLE_AFTER);
        let mut task: Option<Task> = None;
        let (mut answered, mut database) = (false, None);
        // When botctl first saw the task running, by its id: a task Swarm replaced starts over.
        let mut running_since: Option<(String, tokio::time::Instant)> = None;
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_list {
                next_list = now + POLL_EVERY;
                let Some(newest) = self.newest_task(name, since).await? else {
                    return Ok(Waited::Unhealthy { status: "removed".into() });
                };
                if let Some(newest) = &newest {
                    let status = newest.status.clone().unwrap_or_default();
                    match status.state {
                        Some(TaskState::RUNNING) if checks == Checks::Docker => return Ok(Waited::Healthy),
                        Some(
                            state @ (TaskState::FAILED
                            | TaskState::REJECTED
                            | TaskState::SHUTDOWN
                            | TaskState::COMPLETE
                            | TaskState::ORPHANED),
                        ) => {
                            let why = status.err.or(status.message).unwrap_or_default();
                            return Ok(Waited::Unhealthy { status: format!("its task {state}: {why}") });
                        }
                        _ => {}
                    }
                }
                task = newest;
            }
            let Some(seen) = &task else {
                if now >= deadline {
                    return Ok(Waited::TimedOut { database });
                }
                tokio::time::sleep(PROBE_EVERY).await;
                continue;
            };
            if let Some(addr) = task_healthz(seen)
                && let Some(ended) = ask_waiting(&client, addr, refused, &mut answered, &mut database).await
            {
                return Ok(ended);
            }
            // `/healthz` has not answered from here: what else can tell, when Docker does not check.
            if !answered && checks == Checks::Botctl && task_state(seen) == Some(TaskState::RUNNING) {
                let id = seen.id.clone().unwrap_or_default();
                if running_since.as_ref().is_none_or(|(was, _)| *was != id) {
                    running_since = Some((id, now));
                }
                let container = seen.status.as_ref().and_then(|s| s.container_status.as_ref()?.container_id.clone());
                let on_this_node = here.is_some() && seen.node_id == here;
                match container {
                    Some(container) if on_this_node && !command.is_empty() => {
                        if now >= next_exec {
                            next_exec = now + EXEC_EVERY;
                            if self.run_healthcheck(&container, &command).await? {
                                tracing::debug!(
                                    service = name,
                                    "its /healthz cannot be reached from here; the bot's healthcheck passed in its task"
                                );
                                return Ok(Waited::Healthy);
                            }
                        }
                    }
                    _ => {
                        let running_for = running_since.as_ref().map_or(Duration::ZERO, |(_, at)| now - *at);
                        if running_for >= UNREACHABLE_AFTER {
                            let why = if on_this_node {
                                "its /healthz cannot be reached from here and its service names no healthcheck \
                                 command"
                                    .to_string()
                            } else {
                                let node = seen.node_id.as_deref().unwrap_or("unknown");
                                format!(
                                    "its task runs on node {node}, not this engine's, and its /healthz cannot be \
                                     reached from here"
                                )
                            };
                            return Ok(Waited::Unconfirmed { why });
                        }
                    }
                }
            }
            if now >= deadline {
                return Ok(Waited::TimedOut { database });
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// The service's newest task made since `since` (`Some(None)`: none yet); `None` when the service
    /// is gone.
    async fn newest_task(
        &self,
        name: &str,
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
    ) -> anyhow::Result<Option<Option<Task>>> {
        let filters = HashMap::from([("service".to_string(), vec![name.to_string()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = match self.docker.list_tasks(Some(options)).await {
            Ok(t) => t,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot list the tasks of `{name}`")),
        };
        let created = |t: &Task| t.created_at.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
        Ok(Some(
            tasks
                .into_iter()
                .filter(|t| since.is_none_or(|s| created(t).is_some_and(|c| c >= s)))
                .max_by_key(|t| created(t)),
        ))
    }

    /// Removes the service, running or not, and waits until its task is gone; a missing one is fine.
    pub async fn remove_service(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        match self.docker.delete_service(name).await {
            Ok(()) => {}
            Err(e) if not_found(&e) || not_a_manager(&e) => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot remove service `{name}`")),
        }
        // Its tasks are shut down after the service is gone: one poller per token means waiting.
        let deadline = tokio::time::Instant::now() + timeout;
        let filters = HashMap::from([("label".to_string(), vec![format!("com.docker.swarm.service.name={name}")])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default().filters(&filters).build();
        while !self.docker.list_containers(Some(options.clone())).await.context("cannot list containers")?.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        Ok(())
    }

    /// Makes a secret holding `data`, labelled; returns its id. Secrets are immutable: a caller names
    /// a new one for a new value.
    pub async fn create_secret(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        data: &str,
    ) -> anyhow::Result<String> {
        let spec = SecretSpec {
            name: Some(name.to_string()),
            labels: Some(labels),
            data: Some(base64::engine::general_purpose::STANDARD.encode(data)),
            ..Default::default()
        };
        let created =
            self.docker.create_secret(spec).await.with_context(|| format!("cannot create secret `{name}`"))?;
        Ok(created.id)
    }

    /// The names of the secrets that carry all these labels (`KEY=VALUE`).
    pub async fn secrets(&self, labels: &[String]) -> anyhow::Result<Vec<String>> {
        let filters = HashMap::from([("label".to_string(), labels.to_vec())]);
        let options = ListSecretsOptionsBuilder::default().filters(&filters).build();
        let secrets = match self.docker.list_secrets(Some(options)).await {
            Ok(s) => s,
            Err(e) if not_a_manager(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e).context("cannot list secrets"),
        };
        Ok(secrets.into_iter().filter_map(|s| s.spec?.name).collect())
    }

    /// Removes a secret; a missing one is fine. One a service still uses is refused by the engine.
    pub async fn remove_secret(&self, name: &str) -> anyhow::Result<()> {
        match self.docker.delete_secret(name).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove secret `{name}`")),
        }
    }

    /// The secrets the service's current spec names.
    pub async fn service_secrets(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let service = match self.docker.inspect_service(name, None::<InspectServiceOptions>).await {
            Ok(s) => s,
            Err(e) if not_found(&e) || not_a_manager(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot inspect service `{name}`")),
        };
        Ok(service
            .spec
            .and_then(|s| s.task_template?.container_spec?.secrets)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.secret_name)
            .collect())
    }

    /// The service's output as it comes (all its tasks), both streams, each line prefixed with Docker's
    /// RFC 3339 timestamp and a space. `since` is in Unix seconds; `tail` counts lines back.
    pub fn service_log_stream(
        &self,
        name: &str,
        follow: bool,
        since: Option<i64>,
        tail: Option<usize>,
    ) -> impl futures_util::Stream<Item = anyhow::Result<Vec<u8>>> + '_ {
        log_bytes(self.docker.service_logs(name, Some(log_options(follow, since, tail))), name)
    }

    /// The service's last `lines` lines of output, both streams, oldest first.
    pub async fn service_last_logs(&self, name: &str, lines: usize) -> anyhow::Result<Vec<String>> {
        last_lines(self.docker.service_logs(name, Some(last_options(lines))), name).await
    }
}

fn task_state(task: &Task) -> Option<TaskState> {
    task.status.as_ref()?.state
}

/// Where the task's bot answers `/healthz`, when it listens on a fixed address (host networking).
fn task_healthz(task: &Task) -> Option<SocketAddr> {
    let labels = task.spec.as_ref()?.container_spec.as_ref()?.labels.as_ref();
    healthz_address(labels, None, None)
}

/// A service as the fleet sees a container: `running` when the container of a task runs; `pending`
/// while a task is wanted but none runs; `stopped` at no replica. With Docker's healthcheck, `healthy`
/// once Swarm counts the task running (its check passed), `starting` before. Without it, Swarm's
/// `running` says only that the container runs: the health is unknown (`None`), for
/// [`Engine::probe_starting`] to ask the bot.
fn service_state(service: bollard::models::Service, running: &[Task]) -> ContainerState {
    let id = service.id.unwrap_or_default();
    let spec = service.spec.unwrap_or_default();
    let labels = spec.labels.unwrap_or_default();
    let checks = Checks::of(&labels);
    let replicas = spec.mode.and_then(|m| m.replicated).and_then(|r| r.replicas).unwrap_or(0);
    let container = spec.task_template.and_then(|t| t.container_spec).unwrap_or_default();
    let states: Vec<TaskState> =
        running.iter().filter(|t| t.service_id.as_deref() == Some(id.as_str())).filter_map(task_state).collect();
    let (status, health) = if checks == Checks::Botctl && !states.is_empty() {
        ("running", None)
    } else if states.contains(&TaskState::RUNNING) {
        ("running", Some("healthy"))
    } else if !states.is_empty() {
        ("running", Some("starting"))
    } else if replicas == 0 {
        ("stopped", None)
    } else {
        ("pending", None)
    };
    ContainerState {
        name: spec.name.unwrap_or_default(),
        id,
        image: tag_of(container.image.as_deref().unwrap_or_default()).to_string(),
        image_id: labels.get(IMAGE_ID).cloned().unwrap_or_default(),
        status: status.to_string(),
        health: health.map(str::to_string),
        health_probed: false,
        healthz: healthz_address(Some(&labels), None, None),
        health_interval: container
            .health_check
            .or_else(|| serde_json::from_str::<HealthConfig>(labels.get(HEALTHCHECK)?).ok())
            .filter(|_| checks == Checks::Docker)
            .and_then(|h| h.interval)
            .and_then(|n| u64::try_from(n).ok())
            .map(Duration::from_nanos),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_names_its_image_by_tag_without_the_digest_swarm_pins() {
        assert_eq!(tag_of("botctl:1.2@sha256:abcd"), "botctl:1.2");
        assert_eq!(tag_of("botctl:1.2"), "botctl:1.2");
    }

    fn acme() -> ServiceSpec {
        let container = ContainerSpec {
            name: "botctl-acme".into(),
            image: "botctl:1".into(),
            labels: HashMap::from([(MANAGED.to_string(), "true".to_string())]),
            env: vec!["BOTCTL_TENANT=acme".into()],
            network: "host".into(),
            mounts: Vec::new(),
            memory_bytes: 128 << 20,
            nano_cpus: 500_000_000,
            healthcheck: vec!["/usr/local/bin/botctl".into(), "health".into()],
            health_interval: Duration::from_secs(600),
            health_start_period: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
        };
        let secrets =
            vec![SecretFile { id: "s1".into(), secret: "botctl-acme-db-1".into(), file: "database_password".into() }];
        ServiceSpec {
            container,
            secrets,
            placement: vec!["node.labels.botctl==yes".into()],
            image_id: "sha256:1".into(),
            monitor: Duration::from_secs(5),
        }
    }

    /// The healthcheck the spec gives its task, and the one its label keeps for a spec read back.
    fn healthchecks(spec: &SwarmServiceSpec) -> (HealthConfig, HealthConfig) {
        let template = spec.task_template.clone().unwrap();
        let given = template.container_spec.unwrap().health_check.unwrap();
        let kept = serde_json::from_str(&spec.labels.as_ref().unwrap()[HEALTHCHECK]).unwrap();
        (given, kept)
    }

    #[test]
    fn a_service_is_one_replica_updated_stop_first_with_rollback_and_its_secrets_by_id_and_name() {
        let spec = acme().swarm(1, Checks::Botctl);
        assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(1));
        let update = spec.update_config.unwrap();
        assert_eq!(update.order, Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST));
        assert_eq!(update.failure_action, Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK));
        assert_eq!(update.monitor, Some(5_000_000_000));
        assert_eq!(spec.rollback_config.unwrap().order, Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST));
        let labels = spec.labels.unwrap();
        assert_eq!(labels[IMAGE_ID], "sha256:1");
        let template = spec.task_template.unwrap();
        assert_eq!(template.placement.unwrap().constraints.unwrap(), ["node.labels.botctl==yes"]);
        let secret = &template.container_spec.unwrap().secrets.unwrap()[0];
        assert_eq!(
            (secret.secret_id.as_deref(), secret.secret_name.as_deref()),
            (Some("s1"), Some("botctl-acme-db-1"))
        );
        assert_eq!(secret.file.as_ref().unwrap().mode, Some(0o400));
    }

    #[test]
    fn from_api_1_44_a_service_has_the_rare_check_with_a_fast_first_one() {
        assert_eq!(Checks::for_api((1, 44)), Checks::Docker);
        assert_eq!(Checks::for_api((1, 52)), Checks::Docker);
        let spec = acme().swarm(1, Checks::Docker);
        let (given, kept) = healthchecks(&spec);
        assert_eq!(given, kept, "the healthcheck survives a spec read back");
        assert_eq!(given.test.unwrap(), ["CMD", "/usr/local/bin/botctl", "health"]);
        assert_eq!(given.interval, Some(600_000_000_000), "the containers' interval");
        assert_eq!(given.start_interval, Some(1_000_000_000), "Swarm sees the first pass at once");
        assert_eq!(given.start_period, Some(60_000_000_000));
        assert_eq!(Checks::of(spec.labels.as_ref().unwrap()), Checks::Docker);
    }

    #[test]
    fn before_api_1_44_a_service_has_no_docker_healthcheck_and_names_the_command_for_botctl() {
        assert_eq!(Checks::for_api((1, 41)), Checks::Botctl);
        assert_eq!(Checks::for_api((1, 43)), Checks::Botctl);
        let spec = acme().swarm(1, Checks::Botctl);
        let (given, kept) = healthchecks(&spec);
        assert_eq!(given, kept, "the override survives a spec read back");
        // `NONE` alone: the image's own HEALTHCHECK would run otherwise; the engine rejects the others.
        assert_eq!(given, HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() });
        let labels = spec.labels.as_ref().unwrap();
        assert_eq!(Checks::of(labels), Checks::Botctl);
        let command: Vec<String> = serde_json::from_str(&labels[HEALTH_COMMAND]).unwrap();
        assert_eq!(command, ["CMD", "/usr/local/bin/botctl", "health"]);
        // A service made before (every one had Docker's check) still counts on it.
        assert_eq!(Checks::of(&HashMap::new()), Checks::Docker);
    }

    #[test]
    fn without_docker_checks_a_running_task_is_running_with_health_unknown() {
        let task = |state| Task {
            service_id: Some("s".into()),
            status: Some(bollard::models::TaskStatus { state: Some(state), ..Default::default() }),
            ..Default::default()
        };
        let service = |checks| bollard::models::Service {
            id: Some("s".into()),
            spec: Some(acme().swarm(1, checks)),
            ..Default::default()
        };
        let seen = service_state(service(Checks::Botctl), &[task(TaskState::RUNNING)]);
        assert_eq!((seen.status.as_str(), seen.health.as_deref(), seen.health_interval), ("running", None, None));
        let seen = service_state(service(Checks::Docker), &[task(TaskState::RUNNING)]);
        assert_eq!((seen.status.as_str(), seen.health.as_deref()), ("running", Some("healthy")));
        assert_eq!(seen.health_interval, Some(Duration::from_secs(600)));
        let seen = service_state(service(Checks::Docker), &[task(TaskState::STARTING)]);
        assert_eq!(seen.health.as_deref(), Some("starting"));
        let seen = service_state(service(Checks::Botctl), &[]);
        assert_eq!((seen.status.as_str(), seen.health), ("pending", None));
    }
}
