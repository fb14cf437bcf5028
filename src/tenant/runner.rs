//! What runs a tenant's bot — a plain container or a Swarm service (`runtime.mode`) — behind one set of
//! steps, so that start, stop, upgrade, logs and the fleet survey read the same for both. The bot's
//! secrets reach a container in its environment and a service as Swarm secrets.
//!
//! A service's health is botctl's to decide where the engine gives it no Docker healthcheck (before
//! API 1.44, see `runtime::service`): every wait for a service's new task — start, limits, upgrade —
//! ends on its bot's health, not on Swarm's task state, and an upgrade whose new bot does not get
//! healthy is rolled back by botctl.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{Stream, StreamExt};

use super::TenantSlug;
use super::runtime::{LOG_LINES, STOP_GRACE};
use crate::runtime::container::{ContainerSpec, ContainerState, INSTALLATION, MANAGED, TENANT, Waited};
use crate::runtime::service::{SECRETS_DIR, SecretFile, ServiceSpec, Updated};
use crate::runtime::{Engine, Mode};

/// How long a stop or a removal waits for a service's task to end: its grace, and the engine's own time.
const TASK_GONE: Duration = Duration::from_secs(60);
/// How long Swarm may take to replace a task to apply new limits.
const LIMITS_APPLIED: Duration = Duration::from_secs(300);
/// How long Swarm watches a new task for an exit before an update counts it good (and rolls back on
/// one): a bot that cannot start exits within a second or two. Whether it got healthy botctl asks
/// afterwards.
const MONITOR: Duration = Duration::from_secs(5);
/// The label Swarm puts on the containers of a service's tasks.
const SWARM_SERVICE: &str = "com.docker.swarm.service.name";

/// A tenant's bot as botctl makes it: the container (its environment holds no secret yet), and the
/// secrets each kind of runner hands over its own way. Never logged.
pub(super) struct BotSpec {
    pub container: ContainerSpec,
    /// The tenant role's URL, without its password.
    pub database_url: url::Url,
    pub token: String,
    pub password: String,
    /// The image id the image's tag names now.
    pub image_id: String,
    pub placement: Vec<String>,
    pub slug: TenantSlug,
    pub installation: String,
}

impl std::fmt::Debug for BotSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotSpec").field("name", &self.container.name).finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
pub(super) enum Runner<'a> {
    Container(&'a Engine),
    Service(&'a Engine),
}

impl<'a> Runner<'a> {
    /// The runner `runtime.mode` chooses for bots made from now on.
    pub(super) fn configured(engine: &'a Engine, mode: Mode) -> Self {
        match mode {
            Mode::Containers => Runner::Container(engine),
            Mode::Swarm => Runner::Service(engine),
        }
    }

    /// What runs the bot `name` now: its service if it has one, else its container (also when it has
    /// neither), whatever `runtime.mode` says — a stop or a delete reaches a bot made in the other mode.
    pub(super) async fn found(engine: &'a Engine, name: &str) -> anyhow::Result<Self> {
        Ok(match engine.service(name).await? {
            Some(_) => Runner::Service(engine),
            None => Runner::Container(engine),
        })
    }

    /// The other kind: what a start in this mode must remove, so that one token has one poller.
    pub(super) fn other(self) -> Self {
        match self {
            Runner::Container(e) => Runner::Service(e),
            Runner::Service(e) => Runner::Container(e),
        }
    }

    pub(super) fn is_service(self) -> bool {
        matches!(self, Runner::Service(_))
    }

    pub(super) async fn state(self, name: &str) -> anyhow::Result<Option<ContainerState>> {
        match self {
            Runner::Container(e) => e.container(name).await,
            Runner::Service(e) => e.service(name).await,
        }
    }

    /// Makes the bot and sets it going; returns when its spec was written (the engine's clock), which
    /// [`Runner::wait_healthy`] needs to tell its new task from old ones.
    pub(super) async fn make(self, spec: BotSpec) -> anyhow::Result<String> {
        let BotSpec { mut container, mut database_url, token, password, image_id, placement, slug, installation } =
            spec;
        match self {
            Runner::Container(e) => {
                database_url
                    .set_password(Some(&password))
                    .map_err(|()| anyhow::anyhow!("cannot put a password in a URL"))?;
                container.env.push(format!("DATABASE_URL={database_url}"));
                container.env.push(format!("BOT_TOKEN={token}"));
                e.ensure_network(&container.network).await?;
                e.create_container(&container).await?;
                e.start_container(&container.name).await?;
                Ok(String::new())
            }
            Runner::Service(e) => {
                // Secrets are immutable: each make names new ones, and the old go once unused.
                let version = format!("{:08x}", rand::random::<u32>());
                let labels = secret_labels(&slug, &installation);
                let (token_secret, password_secret) =
                    (format!("{}-token-{version}", container.name), format!("{}-db-{version}", container.name));
                let token_id = e.create_secret(&token_secret, labels.clone(), &token).await?;
                let password_id = match e.create_secret(&password_secret, labels, &password).await {
                    Ok(id) => id,
                    Err(err) => {
                        let _ = e.remove_secret(&token_secret).await;
                        return Err(err);
                    }
                };
                container.env.push(format!("DATABASE_URL={database_url}"));
                container.env.push(format!("DATABASE_PASSWORD_FILE={SECRETS_DIR}/database_password"));
                container.env.push(format!("BOT_TOKEN_FILE={SECRETS_DIR}/bot_token"));
                let monitor = MONITOR;
                let secrets = vec![
                    SecretFile { id: token_id, secret: token_secret.clone(), file: "bot_token".into() },
                    SecretFile { id: password_id, secret: password_secret.clone(), file: "database_password".into() },
                ];
                let made = e.create_service(&ServiceSpec { container, secrets, placement, image_id, monitor }).await;
                if made.is_err() {
                    // Nothing names them: they would only wait for the next prune.
                    let _ = e.remove_secret(&token_secret).await;
                    let _ = e.remove_secret(&password_secret).await;
                }
                made
            }
        }
    }

    /// Sets an existing bot going again; a service runs from its make.
    pub(super) async fn run(self, name: &str) -> anyhow::Result<()> {
        match self {
            Runner::Container(e) => e.start_container(name).await,
            Runner::Service(_) => Ok(()),
        }
    }

    pub(super) async fn wait_healthy(
        self,
        name: &str,
        since: &str,
        timeout: Duration,
        refused: &(dyn Fn(&str) -> bool + Sync),
    ) -> anyhow::Result<Waited> {
        match self {
            Runner::Container(e) => e.wait_healthy(name, timeout, refused).await,
            Runner::Service(e) => e.wait_service_healthy(name, since, timeout, refused).await,
        }
    }

    pub(super) async fn last_logs(self, name: &str, lines: usize) -> anyhow::Result<Vec<String>> {
        match self {
            Runner::Container(e) => e.last_logs(name, lines).await,
            Runner::Service(e) => e.service_last_logs(name, lines).await,
        }
    }

    /// Stops the bot (SIGTERM, then its grace): a service is scaled to no replica, and is made again,
    /// with a new password, at its next start.
    pub(super) async fn stop(self, name: &str, grace: Duration) -> anyhow::Result<()> {
        match self {
            Runner::Container(e) => e.stop_container(name, grace).await,
            Runner::Service(e) => e.scale_service(name, 0, grace + TASK_GONE).await,
        }
    }

    /// Removes the bot whatever its state; a service takes its secrets (by its labels) with it.
    pub(super) async fn remove(self, name: &str) -> anyhow::Result<()> {
        match self {
            Runner::Container(e) => e.remove_container(name).await,
            Runner::Service(e) => {
                let Some(found) = e.service(name).await? else { return Ok(()) };
                e.remove_service(name, TASK_GONE).await?;
                let label = |key| found.labels.get(key).cloned();
                let (Some(tenant), Some(installation)) = (label(TENANT), label(INSTALLATION)) else { return Ok(()) };
                match tenant.parse::<TenantSlug>() {
                    Ok(slug) => self.prune_secrets(name, &slug, &installation).await,
                    Err(_) => Ok(()),
                }
            }
        }
    }

    /// Removes the tenant's secrets that its service (if any) no longer names.
    pub(super) async fn prune_secrets(self, name: &str, slug: &TenantSlug, installation: &str) -> anyhow::Result<()> {
        let Runner::Service(e) = self else { return Ok(()) };
        let used = e.service_secrets(name).await?;
        let labels: Vec<String> =
            secret_labels(slug, installation).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        for secret in e.secrets(&labels).await? {
            if !used.contains(&secret) {
                e.remove_secret(&secret).await?;
            }
        }
        Ok(())
    }

    /// Gives the bot new limits: a container's change in place; a running service's task is replaced
    /// by Swarm, and its new bot must get healthy within `health_timeout`.
    pub(super) async fn update_limits(
        self,
        name: &str,
        memory_bytes: i64,
        nano_cpus: i64,
        health_timeout: Duration,
    ) -> anyhow::Result<()> {
        match self {
            Runner::Container(e) => e.update_limits(name, memory_bytes, nano_cpus).await,
            Runner::Service(e) => {
                // A stopped service is made again, with the tenant's limits, at its next start.
                if e.service(name).await?.is_none_or(|s| s.status == "stopped") {
                    return Ok(());
                }
                e.update_service_limits(name, memory_bytes, nano_cpus).await?;
                match e.wait_service_update(name, LIMITS_APPLIED).await? {
                    Updated::Completed => {}
                    Updated::RolledBack { message } | Updated::Stuck { message } => {
                        anyhow::bail!("Swarm could not give service `{name}` its new limits: {message}")
                    }
                    Updated::TimedOut => anyhow::bail!(
                        "Swarm did not give service `{name}` its new limits in {}; see `docker service ps {name}`",
                        humantime::format_duration(LIMITS_APPLIED)
                    ),
                }
                // Swarm's update is done once the new task ran a moment; the bot's health is botctl's.
                match e.wait_service_healthy(name, "", health_timeout, &|_| false).await? {
                    Waited::Healthy => Ok(()),
                    Waited::Unconfirmed { why } => {
                        tracing::warn!(
                            service = name,
                            "the bot with its new limits runs; its health is unconfirmed: {why}"
                        );
                        Ok(())
                    }
                    not => {
                        let logs = e.service_last_logs(name, LOG_LINES).await.unwrap_or_default();
                        anyhow::bail!(
                            "service `{name}` has its new limits, but its bot did not become healthy with them ({}); \
                             see `docker service ps {name}`. Its last log lines:\n{}",
                            why_not(&not, health_timeout),
                            logs.join("\n")
                        )
                    }
                }
            }
        }
    }

    /// Moves a running bot to another image in place, when this kind can (a service: Swarm's rolling
    /// update, stop-first); `None` when the bot must be stopped and made again instead. The new bot
    /// must get healthy within `health_timeout`, else the service goes back to its previous spec —
    /// Swarm's doing when the new task exits while Swarm watches it, botctl's when it runs unhealthy.
    pub(super) async fn upgrade_in_place(
        self,
        name: &str,
        image: &str,
        image_id: &str,
        health_timeout: Duration,
    ) -> anyhow::Result<Option<InPlace>> {
        let Runner::Service(e) = self else { return Ok(None) };
        let never = |_: &str| false;
        let logs = || async { e.service_last_logs(name, LOG_LINES).await.unwrap_or_default() };
        e.update_service_image(name, image, image_id).await?;
        let swarm_time = update_timeout(health_timeout);
        // After Swarm's update the service's newest task is the new image's: `since` is not needed.
        let why = match e.wait_service_update(name, swarm_time).await? {
            Updated::Completed => match e.wait_service_healthy(name, "", health_timeout, &never).await? {
                Waited::Healthy => return Ok(Some(InPlace::Moved { unconfirmed: None })),
                Waited::Unconfirmed { why } => return Ok(Some(InPlace::Moved { unconfirmed: Some(why) })),
                not => why_not(&not, health_timeout),
            },
            Updated::RolledBack { message } => {
                // Swarm calls a rollback done once it has scheduled the old image's task, before that task
                // runs: the report says whether the bot serves again.
                let logs = logs().await;
                let serving = serves(e.wait_service_healthy(name, "", health_timeout, &never).await?);
                return Ok(Some(InPlace::RolledBack { why: message, by_swarm: true, logs, serving }));
            }
            Updated::Stuck { message } => anyhow::bail!(
                "Swarm stopped the update of service `{name}` to {image} part-way ({message}); see `docker service \
                 ps {name}`. Its last log lines:\n{}",
                logs().await.join("\n")
            ),
            // With Docker's check, a task that never passes it stays `starting` and the update runs on.
            Updated::TimedOut => {
                format!("Swarm did not count its task healthy in {}", humantime::format_duration(swarm_time))
            }
        };
        // The new bot's lines, before the old one's join them.
        let logs = logs().await;
        e.rollback_service(name).await?;
        match e.wait_service_update(name, swarm_time).await? {
            Updated::RolledBack { .. } | Updated::Completed => {}
            Updated::Stuck { message } => anyhow::bail!(
                "the new bot did not become healthy on {image} ({why}), and Swarm stopped rolling service `{name}` \
                 back part-way ({message}); see `docker service ps {name}`. Its last log lines:\n{}",
                logs.join("\n")
            ),
            Updated::TimedOut => anyhow::bail!(
                "the new bot did not become healthy on {image} ({why}), and rolling service `{name}` back did not \
                 end in {}; see `docker service ps {name}`. Its last log lines:\n{}",
                humantime::format_duration(swarm_time),
                logs.join("\n")
            ),
        }
        let serving = serves(e.wait_service_healthy(name, "", health_timeout, &never).await?);
        Ok(Some(InPlace::RolledBack { why, by_swarm: false, logs, serving }))
    }

    /// The bot's output: a container's is re-attached across restarts by the caller; a service's
    /// stream already spans its tasks.
    pub(super) fn log_stream(
        self,
        name: &str,
        follow: bool,
        since: Option<i64>,
        tail: Option<usize>,
    ) -> impl Stream<Item = anyhow::Result<Vec<u8>>> + 'a {
        match self {
            Runner::Container(e) => e.log_stream(name, follow, since, tail).left_stream(),
            Runner::Service(e) => e.service_log_stream(name, follow, since, tail).right_stream(),
        }
    }
}

/// How a service's move to another image in place ended (short of an error).
pub(super) enum InPlace {
    /// Its new bot is healthy, or runs where botctl cannot tell: `unconfirmed` says why, then.
    Moved { unconfirmed: Option<String> },
    /// The new bot did not get healthy (`why`) and the service went back to its previous spec, by Swarm
    /// (its new task exited while Swarm watched it) or by botctl. `logs` are the service's last lines
    /// then; `serving`, whether the old image's bot is healthy again.
    RolledBack { why: String, by_swarm: bool, logs: Vec<String>, serving: bool },
}

/// How long Swarm may take over an update or a rollback: the old task's grace, the new one's start
/// (with Docker's check, until it passes: within its start period, `health_timeout`) and its monitor.
fn update_timeout(health_timeout: Duration) -> Duration {
    STOP_GRACE + health_timeout + MONITOR + Duration::from_secs(30)
}

/// Why a wait did not end healthy, in words.
fn why_not(waited: &Waited, timeout: Duration) -> String {
    match waited {
        Waited::TimedOut { database: Some(error) } => {
            format!(
                "not healthy after {}; its /healthz reports the database: {error}",
                humantime::format_duration(timeout)
            )
        }
        Waited::TimedOut { database: None } => format!("not healthy after {}", humantime::format_duration(timeout)),
        Waited::Unhealthy { status } => status.clone(),
        Waited::DatabaseRefused { error } => format!("its database connection was refused: {error}"),
        Waited::Healthy => "healthy".to_string(),
        Waited::Unconfirmed { why } => why.clone(),
    }
}

/// Whether a bot serves, as far as botctl can tell.
fn serves(waited: Waited) -> bool {
    matches!(waited, Waited::Healthy | Waited::Unconfirmed { .. })
}

fn secret_labels(slug: &TenantSlug, installation: &str) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (TENANT.to_string(), slug.to_string()),
        (INSTALLATION.to_string(), installation.to_string()),
    ])
}

/// The bot `name` as the engine sees it now, a service or a container.
pub async fn state(engine: &Engine, name: &str) -> anyhow::Result<Option<ContainerState>> {
    Runner::found(engine, name).await?.state(name).await
}

/// This installation's bots, containers and services alike, each under its own name (the containers
/// of a service's tasks are the service's, not bots of their own).
pub async fn managed(engine: &Engine, installation: &str) -> anyhow::Result<Vec<ContainerState>> {
    let mut bots = engine.managed_containers(installation).await?;
    bots.retain(|c| !c.labels.contains_key(SWARM_SERVICE));
    bots.extend(engine.managed_services(installation).await?);
    Ok(bots)
}
