//! Tenant containers through the engine: what one looks like (`ContainerSpec`), and idempotent steps
//! on it — every step inspects first, so running it twice is harmless, and "already so" is success.
//!
//! Docker's own healthcheck runs rarely (each run is an exec that costs the engine tens of CPU-ms, see
//! docs/BENCHMARKS.md); while botctl waits for a new bot it asks the bot's `/healthz` itself.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bollard::errors::Error as DockerError;
use bollard::exec::StartExecOptions;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerUpdateBody, EndpointSettings, ExecConfig, HealthConfig,
    HostConfig, HostConfigLogConfig, Mount, MountType, NetworkCreateRequest, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, InspectNetworkOptions, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;

use super::Engine;

/// Every container botctl makes carries this label; ownership is decided by labels, never by names.
pub const MANAGED: &str = "botctl.managed";
/// Which tenant a managed container runs.
pub const TENANT: &str = "botctl.tenant";
/// Which installation (control plane) made it: several may share one engine.
pub const INSTALLATION: &str = "botctl.installation";
/// Where the bot's `/healthz` listens inside the container (its `BOTCTL_HTTP_ADDR`), so that botctl can
/// ask it without reading the container's environment, which holds secrets.
pub const HTTP: &str = "botctl.http";
/// The variable that says the same in containers made before the label.
const HTTP_ENV: &str = "BOTCTL_HTTP_ADDR=";

/// A directory of the host, seen by the container at `target`.
#[derive(Debug, Clone)]
pub struct BindMount {
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

/// Everything a tenant's container is made from.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub labels: HashMap<String, String>,
    /// `KEY=VALUE`; holds secrets, so never logged.
    pub env: Vec<String>,
    /// `host`, or the name of a bridge network.
    pub network: String,
    pub mounts: Vec<BindMount>,
    pub memory_bytes: i64,
    /// CPUs in billionths, as the engine counts them.
    pub nano_cpus: i64,
    /// The command Docker runs to ask whether the container is healthy.
    pub healthcheck: Vec<String>,
    pub health_interval: Duration,
    /// How long after the start Docker does not count failed checks.
    pub health_start_period: Duration,
    /// How long SIGTERM has before the engine kills.
    pub stop_grace: Duration,
}

/// What the engine says about one container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerState {
    pub id: String,
    pub name: String,
    /// The image as it was named at create.
    pub image: String,
    /// The image's id: a tag may since point elsewhere.
    pub image_id: String,
    /// `created`, `running`, `restarting`, `exited`, …
    pub status: String,
    /// `starting`, `healthy`, `unhealthy`; `None` without a healthcheck.
    pub health: Option<String>,
    /// Whether `health` is what the bot's `/healthz` said ([`Engine::probe_starting`]) rather than
    /// Docker's own healthcheck.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub health_probed: bool,
    /// Where botctl asks the bot's `/healthz`, when the container says where it listens.
    #[serde(skip)]
    pub healthz: Option<SocketAddr>,
    /// How often Docker runs the healthcheck; known from an inspect, `None` in a listing (which does not
    /// carry it) or without a healthcheck.
    pub health_interval: Option<Duration>,
    pub labels: HashMap<String, String>,
}

/// How waiting for health ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    Healthy,
    /// The healthcheck failed, or the container stopped; the status says which.
    Unhealthy {
        status: String,
    },
    /// The bot's `/healthz` reported a database error that the caller said will not pass by waiting.
    DatabaseRefused {
        error: String,
    },
    /// `database` is the last database error `/healthz` reported, if it reported one.
    TimedOut {
        database: Option<String>,
    },
    /// The bot runs, but nothing that botctl can reach tells its health (a Swarm task on another node
    /// without Docker's healthcheck); `why` says so.
    Unconfirmed {
        why: String,
    },
}

/// How long one ask of `/healthz` may take: a bot answers it from what it already knows, at once.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How many bots [`Engine::probe_starting`] asks at once: a fleet just started is `starting` all over.
const PROBES_AT_ONCE: usize = 16;
/// How often `/healthz` is asked while waiting: a bot is healthy about a second after its start.
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How often the engine is asked whether the container stopped: an inspect costs the engine more.
const INSPECT_EVERY: Duration = Duration::from_millis(500);
/// How long the container runs with `/healthz` never answering before botctl also runs the
/// container's own healthcheck (botctl may sit in a network namespace that cannot reach the bot).
pub(super) const UNREACHABLE_AFTER: Duration = Duration::from_secs(2);
pub(super) const EXEC_EVERY: Duration = Duration::from_secs(2);

/// What waiting needs from one inspect.
struct Observed {
    status: String,
    health: Option<String>,
    restarts: i64,
    /// Where botctl asks `/healthz`, when the container says where it listens.
    http: Option<SocketAddr>,
    healthcheck: Vec<String>,
}

impl Observed {
    fn of(c: ContainerInspectResponse) -> Self {
        let state = c.state.unwrap_or_default();
        let config = c.config.unwrap_or_default();
        let networks = c.network_settings.as_ref().and_then(|n| n.networks.as_ref());
        let http = healthz_address(config.labels.as_ref(), config.env.as_ref(), networks);
        let healthcheck = config.healthcheck.and_then(|h| h.test).unwrap_or_default();
        Self {
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            health: state.health.and_then(|h| h.status).map(|s| s.to_string()).filter(|h| !h.is_empty() && h != "none"),
            restarts: c.restart_count.unwrap_or(0),
            http,
            healthcheck,
        }
    }
}

/// Where botctl asks a container's `/healthz`: where the bot listens (the container's label, or its
/// environment in containers made before the label); listening on every address means a bridge
/// network, where botctl reaches it at the container's own address.
pub(super) fn healthz_address(
    labels: Option<&HashMap<String, String>>,
    env: Option<&Vec<String>>,
    networks: Option<&HashMap<String, EndpointSettings>>,
) -> Option<SocketAddr> {
    let listen = labels
        .and_then(|l| l.get(HTTP).map(String::as_str))
        .or_else(|| env.into_iter().flatten().find_map(|e| e.strip_prefix(HTTP_ENV)))
        .and_then(|a| a.parse::<SocketAddr>().ok())?;
    if !listen.ip().is_unspecified() {
        return Some(listen);
    }
    let ip =
        networks?.values().find_map(|n| n.ip_address.as_deref().filter(|ip| !ip.is_empty())?.parse::<IpAddr>().ok())?;
    Some(SocketAddr::new(ip, listen.port()))
}

/// What one ask of `/healthz` learned.
pub(super) enum Answer {
    /// Nothing answers there (yet).
    Silent,
    Healthy,
    /// Not healthy yet; the database's error, if the report names one.
    Unhealthy(Option<String>),
}

impl Engine {
    pub async fn container(&self, name: &str) -> anyhow::Result<Option<ContainerState>> {
        match self.docker.inspect_container(name, None::<InspectContainerOptions>).await {
            Ok(c) => {
                let state = c.state.unwrap_or_default();
                let health = state.health.and_then(|h| h.status).map(|s| s.to_string());
                let config = c.config.unwrap_or_default();
                let networks = c.network_settings.as_ref().and_then(|n| n.networks.as_ref());
                let healthz = healthz_address(config.labels.as_ref(), config.env.as_ref(), networks);
                Ok(Some(ContainerState {
                    id: c.id.unwrap_or_default(),
                    name: c.name.unwrap_or_default().trim_start_matches('/').to_string(),
                    image: config.image.unwrap_or_default(),
                    image_id: c.image.unwrap_or_default(),
                    status: state.status.map(|s| s.to_string()).unwrap_or_default(),
                    health: health.filter(|h| !h.is_empty() && h != "none"),
                    health_probed: false,
                    healthz,
                    health_interval: config
                        .healthcheck
                        .and_then(|h| h.interval)
                        .and_then(|n| u64::try_from(n).ok())
                        .map(Duration::from_nanos),
                    labels: config.labels.unwrap_or_default(),
                }))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot inspect container `{name}`")),
        }
    }

    /// Creates the container unless one of that name exists (the engine's 409 says so, so no inspect is
    /// needed first); returns whether it made one.
    pub async fn create_container(&self, spec: &ContainerSpec) -> anyhow::Result<bool> {
        let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let host_config = HostConfig {
            network_mode: Some(spec.network.clone()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            memory: Some(spec.memory_bytes),
            // No swap: a bot over its limit should be restarted, not slowed to a crawl.
            memory_swap: Some(spec.memory_bytes),
            nano_cpus: Some(spec.nano_cpus),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([("max-size".into(), "10m".into()), ("max-file".into(), "3".into())])),
            }),
            mounts: Some(
                spec.mounts
                    .iter()
                    .map(|m| Mount {
                        source: Some(m.source.display().to_string()),
                        target: Some(m.target.clone()),
                        typ: Some(MountType::BIND),
                        read_only: Some(m.read_only),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.clone()),
            healthcheck: Some(HealthConfig {
                test: Some(std::iter::once("CMD".to_string()).chain(spec.healthcheck.iter().cloned()).collect()),
                interval: Some(nanos(spec.health_interval)),
                // `/healthz` answers from what the bot already knows, at once.
                timeout: Some(nanos(Duration::from_secs(3))),
                // With checks minutes apart, two failures in a row are already a long outage.
                retries: Some(2),
                start_period: Some(nanos(spec.health_start_period)),
                // API 1.44; engines before it reject the field.
                start_interval: None,
            }),
            stop_signal: Some("SIGTERM".into()),
            stop_timeout: Some(seconds(spec.stop_grace)),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => Ok(true),
            // There already: it stands.
            Err(DockerError::DockerResponseServerError { status_code: 409, .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot create container `{}`", spec.name)),
        }
    }

    /// Starts the container; one already running is left as it is.
    pub async fn start_container(&self, name: &str) -> anyhow::Result<()> {
        match self.docker.start_container(name, None::<StartContainerOptions>).await {
            Ok(()) => Ok(()),
            Err(DockerError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot start container `{name}`")),
        }
    }

    /// Stops the container with SIGTERM and its grace period; a stopped or missing one is fine.
    pub async fn stop_container(&self, name: &str, grace: Duration) -> anyhow::Result<()> {
        let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        match self.docker.stop_container(name, Some(StopContainerOptionsBuilder::default().t(t).build())).await {
            Ok(()) => Ok(()),
            Err(DockerError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot stop container `{name}`")),
        }
    }

    /// Removes the container, running or not; a missing one is fine.
    pub async fn remove_container(&self, name: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove container `{name}`")),
        }
    }

    /// Waits until the container's bot is healthy, its container fails or stops, `refused` says the
    /// database error its `/healthz` reports will not pass by waiting, or `timeout` passes. Asks the
    /// bot's `/healthz` itself (Docker's own check may be minutes away) and the engine less often; when
    /// `/healthz` cannot be reached from here, runs the container's own healthcheck now and then.
    pub async fn wait_healthy(
        &self,
        name: &str,
        timeout: Duration,
        refused: &(dyn Fn(&str) -> bool + Sync),
    ) -> anyhow::Result<Waited> {
        let start = tokio::time::Instant::now();
        let deadline = start + timeout;
        let client = healthz_client()?;
        let (mut next_inspect, mut next_exec) = (start, start + UNREACHABLE_AFTER);
        let mut observed: Option<Observed> = None;
        // Restarts before this wait (a running bot's past) are not this start's failure.
        let mut restarts_before = None;
        let (mut answered, mut database) = (false, None);
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_inspect {
                next_inspect = now + INSPECT_EVERY;
                let inspected = match self.docker.inspect_container(name, None::<InspectContainerOptions>).await {
                    Ok(c) => Observed::of(c),
                    Err(e) if not_found(&e) => return Ok(Waited::Unhealthy { status: "removed".into() }),
                    Err(e) => return Err(e).with_context(|| format!("cannot inspect container `{name}`")),
                };
                match (inspected.status.as_str(), inspected.health.as_deref()) {
                    (_, Some("healthy")) => return Ok(Waited::Healthy),
                    (_, Some("unhealthy")) => {
                        return Ok(Waited::Unhealthy { status: format!("{} and unhealthy", inspected.status) });
                    }
                    // A restart means the bot already crashed once, even if it runs again by now.
                    ("exited" | "dead" | "restarting", _) => return Ok(Waited::Unhealthy { status: inspected.status }),
                    _ if inspected.restarts > *restarts_before.get_or_insert(inspected.restarts) => {
                        return Ok(Waited::Unhealthy { status: "restarted by the engine".into() });
                    }
                    _ => {}
                }
                observed = Some(inspected);
            }
            let Some(seen) = &observed else { continue };
            if let Some(addr) = seen.http
                && let Some(ended) = ask_waiting(&client, addr, refused, &mut answered, &mut database).await
            {
                return Ok(ended);
            }
            if !answered && now >= next_exec && !seen.healthcheck.is_empty() {
                next_exec = now + EXEC_EVERY;
                if self.run_healthcheck(name, &seen.healthcheck).await? {
                    let at = seen.http.map_or_else(|| "no address".to_string(), |a| a.to_string());
                    tracing::debug!(
                        container = name,
                        "its /healthz ({at}) cannot be reached from here; the container's own healthcheck passed"
                    );
                    return Ok(Waited::Healthy);
                }
            }
            if now >= deadline {
                return Ok(Waited::TimedOut { database });
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// Runs the container's healthcheck command (`CMD …` or `CMD-SHELL …`) once, as Docker would;
    /// whether it passed. `name` is the container's name or id.
    pub(super) async fn run_healthcheck(&self, name: &str, test: &[String]) -> anyhow::Result<bool> {
        let cmd: Vec<String> = match test.split_first() {
            Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" => {
                ["/bin/sh".to_string(), "-c".to_string()].into_iter().chain(rest.iter().cloned()).collect()
            }
            _ => return Ok(false),
        };
        let config =
            ExecConfig { cmd: Some(cmd), attach_stdout: Some(false), attach_stderr: Some(false), ..Default::default() };
        // A container between restarts takes no exec: that is a failed check, not an error.
        let Ok(exec) = self.docker.create_exec(name, config).await else { return Ok(false) };
        let detached = StartExecOptions { detach: true, tty: false, output_capacity: None };
        if self.docker.start_exec(&exec.id, Some(detached)).await.is_err() {
            return Ok(false);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            let inspected = self.docker.inspect_exec(&exec.id).await.context("cannot inspect the healthcheck")?;
            if inspected.running != Some(true) {
                return Ok(inspected.exit_code == Some(0));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(false)
    }

    /// Every container this installation made (by label); one call for the fleet.
    pub async fn managed_containers(&self, installation: &str) -> anyhow::Result<Vec<ContainerState>> {
        let labels = vec![format!("{MANAGED}=true"), format!("{INSTALLATION}={installation}")];
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let listed = self.docker.list_containers(Some(options)).await.context("cannot list containers")?;
        Ok(listed
            .into_iter()
            .map(|c| ContainerState {
                // A listing carries the labels, not the environment: a container made before the label
                // has no address here, and keeps Docker's health.
                healthz: healthz_address(
                    c.labels.as_ref(),
                    None,
                    c.network_settings.as_ref().and_then(|n| n.networks.as_ref()),
                ),
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                image_id: c.image_id.unwrap_or_default(),
                status: c.state.map(|s| s.to_string()).unwrap_or_default(),
                health: c.status.as_deref().and_then(health_in_status),
                health_probed: false,
                health_interval: None,
                labels: c.labels.unwrap_or_default(),
            })
            .collect())
    }

    /// Asks the bots of running containers whose Docker health is still `starting` — Docker's first
    /// check comes one healthcheck interval (minutes) after the start, although the bot may have been
    /// healthy for long — or unknown (no Docker healthcheck: a service on an engine before API 1.44),
    /// and puts what `/healthz` says in their place (`health_probed`). A bot that cannot be reached from
    /// here, or does not answer yet, keeps what it had. Containers whose health Docker already knows
    /// cost nothing; the others are asked a few at a time, briefly each.
    pub async fn probe_starting(&self, containers: &mut [ContainerState]) -> anyhow::Result<()> {
        let mut asked: Vec<&mut ContainerState> = containers
            .iter_mut()
            .filter(|c| {
                c.status == "running" && matches!(c.health.as_deref(), None | Some("starting")) && c.healthz.is_some()
            })
            .collect();
        if asked.is_empty() {
            return Ok(());
        }
        let client = &healthz_client()?;
        futures_util::stream::iter(asked.iter_mut())
            .for_each_concurrent(PROBES_AT_ONCE, |c| async move {
                let Some(addr) = c.healthz else { return };
                let health = match ask(client, addr).await {
                    Answer::Silent => return,
                    Answer::Healthy => "healthy",
                    Answer::Unhealthy(_) => "unhealthy",
                };
                c.health = Some(health.to_string());
                c.health_probed = true;
            })
            .await;
        Ok(())
    }

    /// Changes a container's memory and CPU limits in place, running or not.
    pub async fn update_limits(&self, name: &str, memory_bytes: i64, nano_cpus: i64) -> anyhow::Result<()> {
        let body = ContainerUpdateBody {
            memory: Some(memory_bytes),
            memory_swap: Some(memory_bytes),
            nano_cpus: Some(nano_cpus),
            ..Default::default()
        };
        self.docker
            .update_container(name, body)
            .await
            .with_context(|| format!("cannot change the limits of `{name}`"))?;
        Ok(())
    }

    /// Makes the bridge network `name` unless it exists; `host` is always there.
    pub async fn ensure_network(&self, name: &str) -> anyhow::Result<()> {
        if name == "host" {
            return Ok(());
        }
        match self.docker.inspect_network(name, None::<InspectNetworkOptions>).await {
            Ok(_) => return Ok(()),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot inspect network `{name}`")),
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(MANAGED.to_string(), "true".to_string())])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Made by someone else meanwhile.
            Err(DockerError::DockerResponseServerError { status_code: 409, .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot create network `{name}`")),
        }
    }

    /// The container's output as it comes, both streams, each line prefixed with Docker's RFC 3339
    /// timestamp and a space. `since` is in Unix seconds; `tail` counts lines back from the end.
    pub fn log_stream(
        &self,
        name: &str,
        follow: bool,
        since: Option<i64>,
        tail: Option<usize>,
    ) -> impl futures_util::Stream<Item = anyhow::Result<Vec<u8>>> + '_ {
        log_bytes(self.docker.logs(name, Some(log_options(follow, since, tail))), name)
    }

    /// The container's last `lines` lines of output, both streams, oldest first.
    pub async fn last_logs(&self, name: &str, lines: usize) -> anyhow::Result<Vec<String>> {
        last_lines(self.docker.logs(name, Some(last_options(lines))), name).await
    }
}

/// What `docker logs` and `docker service logs` are both asked for: both streams, each line prefixed
/// with Docker's RFC 3339 timestamp and a space; `since` in Unix seconds, `tail` lines back from the end.
pub(super) fn log_options(
    follow: bool,
    since: Option<i64>,
    tail: Option<usize>,
) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::default()
        .follow(follow)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .since(since.map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)))
        .tail(&tail.map_or_else(|| "all".to_string(), |n| n.to_string()))
        .build()
}

/// A container's or a service's log stream as bytes, its errors naming `name`.
pub(super) fn log_bytes<'a>(
    stream: impl futures_util::Stream<Item = Result<bollard::container::LogOutput, DockerError>> + 'a,
    name: &str,
) -> impl futures_util::Stream<Item = anyhow::Result<Vec<u8>>> + 'a {
    let name = name.to_string();
    stream.map(move |chunk| {
        chunk.map(|c| c.into_bytes().to_vec()).with_context(|| format!("cannot read the logs of `{name}`"))
    })
}

/// What the last `lines` lines of both streams are asked with.
pub(super) fn last_options(lines: usize) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&lines.to_string()).build()
}

/// The lines of a finished log stream, oldest first.
pub(super) async fn last_lines(
    stream: impl futures_util::Stream<Item = Result<bollard::container::LogOutput, DockerError>>,
    name: &str,
) -> anyhow::Result<Vec<String>> {
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("cannot read the logs of `{name}`"))?;
        out.extend(chunk.to_string().lines().map(str::to_string));
    }
    Ok(out)
}

/// The client `/healthz` is asked with: never through a proxy (the address is the engine's), briefly.
pub(super) fn healthz_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(PROBE_TIMEOUT).no_proxy().build().context("cannot make an HTTP client")
}

/// Asks the bot's `/healthz` at `addr` for a wait (a container's or a service's): `Some` when the
/// answer ends the wait; else notes that the bot answered, and the database error it reported.
pub(super) async fn ask_waiting(
    client: &reqwest::Client,
    addr: SocketAddr,
    refused: &(dyn Fn(&str) -> bool + Sync),
    answered: &mut bool,
    database: &mut Option<String>,
) -> Option<Waited> {
    match ask(client, addr).await {
        Answer::Healthy => Some(Waited::Healthy),
        Answer::Unhealthy(error) => {
            *answered = true;
            match error {
                Some(error) if refused(&error) => Some(Waited::DatabaseRefused { error }),
                error => {
                    *database = error.or(database.take());
                    None
                }
            }
        }
        Answer::Silent => None,
    }
}

/// Asks the bot's `/healthz` at `addr` once.
pub(super) async fn ask(client: &reqwest::Client, addr: SocketAddr) -> Answer {
    let Ok(response) = client.get(format!("http://{addr}/healthz")).send().await else { return Answer::Silent };
    if response.status().is_success() {
        return Answer::Healthy;
    }
    let report: Option<serde_json::Value> = response.json().await.ok();
    Answer::Unhealthy(report.as_ref().and_then(database_error))
}

/// The database error in a `/healthz` report (`"database": "error: …"`), if it names one.
fn database_error(report: &serde_json::Value) -> Option<String> {
    report.get("database")?.as_str()?.strip_prefix("error: ").map(str::to_string)
}

/// The health in a listing's status text (`Up 5 minutes (healthy)`): a listing carries no health field,
/// and inspecting every container would take a call per tenant.
fn health_in_status(status: &str) -> Option<String> {
    let inside = status.rsplit_once('(')?.1.strip_suffix(')')?;
    let health = inside.strip_prefix("health: ").unwrap_or(inside);
    ["healthy", "unhealthy", "starting"].contains(&health).then(|| health.to_string())
}

pub(super) fn not_found(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 404, .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthz_report_names_its_database_error() {
        let report = serde_json::json!({"healthy": false, "database": "error: sorry, too many clients already"});
        assert_eq!(database_error(&report).as_deref(), Some("sorry, too many clients already"));
        assert_eq!(database_error(&serde_json::json!({"healthy": false, "database": "ok"})), None);
        assert_eq!(database_error(&serde_json::json!({"healthy": false})), None);
    }

    #[test]
    fn healthz_is_asked_where_the_label_says_and_on_a_bridge_at_the_containers_address() {
        let labels = |addr: &str| HashMap::from([(HTTP.to_string(), addr.to_string())]);
        let bridge = HashMap::from([(
            "botctl".to_string(),
            EndpointSettings { ip_address: Some("172.18.0.5".into()), ..Default::default() },
        )]);
        let at = |a: &str| Some(a.parse::<SocketAddr>().unwrap());
        assert_eq!(healthz_address(Some(&labels("127.0.0.1:18080")), None, None), at("127.0.0.1:18080"));
        assert_eq!(healthz_address(Some(&labels("0.0.0.0:8080")), None, Some(&bridge)), at("172.18.0.5:8080"));
        // A bridge address is not known without the container's networks (or with an empty address).
        assert_eq!(healthz_address(Some(&labels("0.0.0.0:8080")), None, None), None);
        let unassigned = HashMap::from([("botctl".to_string(), EndpointSettings::default())]);
        assert_eq!(healthz_address(Some(&labels("0.0.0.0:8080")), None, Some(&unassigned)), None);
        // Containers made before the label say it in their environment.
        let env = vec!["BOT_TOKEN=secret".to_string(), "BOTCTL_HTTP_ADDR=127.0.0.1:18081".to_string()];
        assert_eq!(healthz_address(None, Some(&env), None), at("127.0.0.1:18081"));
        assert_eq!(healthz_address(Some(&labels("garbage")), None, None), None);
        assert_eq!(healthz_address(None, None, Some(&bridge)), None);
    }

    #[test]
    fn health_is_read_from_a_listing_status() {
        assert_eq!(health_in_status("Up 5 minutes (healthy)").as_deref(), Some("healthy"));
        assert_eq!(health_in_status("Up 2 seconds (health: starting)").as_deref(), Some("starting"));
        assert_eq!(health_in_status("Up 1 hour (unhealthy)").as_deref(), Some("unhealthy"));
        assert_eq!(health_in_status("Exited (1) 3 minutes ago"), None);
        assert_eq!(health_in_status("Up 5 minutes"), None);
    }
}
