//! Tenant bots as Docker Swarm services: one replicated service per tenant made from the same
//! [`ContainerSpec`] as a plain container, its secrets as Swarm secrets, and idempotent steps on it
//! (inspect first; "already so" is success). Also what `doctor` asks of the swarm.
//!
//! Swarm holds a task `starting` until Docker's healthcheck passes and fails it when the check fails, so
//! its own update machinery decides an upgrade (stop-first, rollback on failure); botctl only waits.

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
    Answer, ContainerSpec, ContainerState, INSTALLATION, MANAGED, Waited, ask, healthz_address, healthz_client,
    last_lines, last_options, log_bytes, log_options, not_found,
};

/// The service label that names the image id a service was made or upgraded to: a service names its
/// image by tag, and a tag may since point elsewhere.
pub const IMAGE_ID: &str = "botctl.image_id";
/// The service label that keeps its healthcheck: bollard's model reads the spec's `HealthCheck`, the
/// engine writes `Healthcheck`, so a spec read back lacks it and an update would drop it.
const HEALTHCHECK: &str = "botctl.healthcheck";
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

impl ServiceSpec {
    /// The Swarm spec: one replica (or none), stop-first updates that roll back on a failure.
    fn swarm(&self, replicas: i64) -> SwarmServiceSpec {
        let c = &self.container;
        let healthcheck = HealthConfig {
            test: Some(std::iter::once("CMD".to_string()).chain(c.healthcheck.iter().cloned()).collect()),
            interval: Some(nanos(c.health_interval)),
            timeout: Some(nanos(Duration::from_secs(3))),
            retries: Some(2),
            start_period: Some(nanos(c.health_start_period)),
            start_interval: None,
        };
        let mut labels = c.labels.clone();
        labels.insert(IMAGE_ID.to_string(), self.image_id.clone());
        labels.insert(HEALTHCHECK.to_string(), serde_json::to_string(&healthcheck).unwrap_or_default());
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

    /// Makes the service with one replica; returns the time its spec was written (tasks made for it
    /// are younger).
    pub async fn create_service(&self, spec: &ServiceSpec) -> anyhow::Result<String> {
        let name = &spec.container.name;
        self.docker
            .create_service(spec.swarm(1), None)
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
            let options =
                UpdateServiceOptionsBuilder::default().version(i32::try_from(version).unwrap_or(i32::MAX)).build();
            match self.docker.update_service(name, spec, options, None).await {
                Ok(_) => return Ok(()),
                Err(DockerError::DockerResponseServerError { message, .. }) if message.contains("out of sequence") => {}
                Err(e) => return Err(e).with_context(|| format!("cannot update service `{name}`")),
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

    /// Waits until a task of the service made since `since` (the time its spec was written) is
    /// healthy: running (Swarm holds a task `starting` until Docker's healthcheck passes), or its bot's
    /// `/healthz`, when it can be reached from here, says so first. A task that fails ends the wait.
    pub async fn wait_service_healthy(
        &self,
        name: &str,
        since: &str,
        timeout: Duration,
        refused: &(dyn Fn(&str) -> bool + Sync),
    ) -> anyhow::Result<Waited> {
        let since = chrono::DateTime::parse_from_rfc3339(since).ok();
        let client = healthz_client()?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut database = None;
        loop {
            let filters = HashMap::from([("service".to_string(), vec![name.to_string()])]);
            let options = ListTasksOptionsBuilder::default().filters(&filters).build();
            let tasks = match self.docker.list_tasks(Some(options)).await {
                Ok(t) => t,
                Err(e) if not_found(&e) => return Ok(Waited::Unhealthy { status: "removed".into() }),
                Err(e) => return Err(e).with_context(|| format!("cannot list the tasks of `{name}`")),
            };
            let created = |t: &Task| t.created_at.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
            let newest = tasks
                .iter()
                .filter(|t| since.is_none_or(|s| created(t).is_some_and(|c| c >= s)))
                .max_by_key(|t| created(t));
            if let Some(task) = newest {
                let status = task.status.clone().unwrap_or_default();
                match status.state {
                    Some(TaskState::RUNNING) => return Ok(Waited::Healthy),
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
                if let Some(addr) = task_healthz(task) {
                    match ask(&client, addr).await {
                        Answer::Healthy => return Ok(Waited::Healthy),
                        Answer::Unhealthy(Some(error)) if refused(&error) => {
                            return Ok(Waited::DatabaseRefused { error });
                        }
                        Answer::Unhealthy(error) => database = error.or(database),
                        Answer::Silent => {}
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Waited::TimedOut { database });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
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

/// A service as the fleet sees a container: `running` when the container of a task runs — `healthy`
/// once Swarm counts the task running (its healthcheck passed), `starting` before; `pending` while a
/// task is wanted but none runs; `stopped` at no replica.
fn service_state(service: bollard::models::Service, running: &[Task]) -> ContainerState {
    let id = service.id.unwrap_or_default();
    let spec = service.spec.unwrap_or_default();
    let labels = spec.labels.unwrap_or_default();
    let replicas = spec.mode.and_then(|m| m.replicated).and_then(|r| r.replicas).unwrap_or(0);
    let container = spec.task_template.and_then(|t| t.container_spec).unwrap_or_default();
    let states: Vec<TaskState> =
        running.iter().filter(|t| t.service_id.as_deref() == Some(id.as_str())).filter_map(task_state).collect();
    let (status, health) = if states.contains(&TaskState::RUNNING) {
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

    #[test]
    fn a_service_is_one_replica_updated_stop_first_with_rollback_and_its_secrets_by_id_and_name() {
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
            health_interval: Duration::from_secs(15),
            health_start_period: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
        };
        let secrets =
            vec![SecretFile { id: "s1".into(), secret: "botctl-acme-db-1".into(), file: "database_password".into() }];
        let spec = ServiceSpec {
            container,
            secrets,
            placement: vec!["node.labels.botctl==yes".into()],
            image_id: "sha256:1".into(),
            monitor: Duration::from_secs(15),
        }
        .swarm(1);
        assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(1));
        let update = spec.update_config.unwrap();
        assert_eq!(update.order, Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST));
        assert_eq!(update.failure_action, Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK));
        assert_eq!(spec.rollback_config.unwrap().order, Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST));
        let labels = spec.labels.unwrap();
        assert_eq!(labels[IMAGE_ID], "sha256:1");
        let kept: HealthConfig = serde_json::from_str(&labels[HEALTHCHECK]).unwrap();
        assert_eq!(kept.interval, Some(15_000_000_000), "the healthcheck survives a spec read back");
        let template = spec.task_template.unwrap();
        assert_eq!(template.placement.unwrap().constraints.unwrap(), ["node.labels.botctl==yes"]);
        let secret = &template.container_spec.unwrap().secrets.unwrap()[0];
        assert_eq!(
            (secret.secret_id.as_deref(), secret.secret_name.as_deref()),
            (Some("s1"), Some("botctl-acme-db-1"))
        );
        assert_eq!(secret.file.as_ref().unwrap().mode, Some(0o400));
    }
}
