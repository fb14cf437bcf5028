//! The fleet as the control plane and Docker see it together: containers of ours that belong to no
//! tenant, tenants marked running whose bot is not, and the repairs `doctor --fix` makes.

use std::collections::HashMap;

use crate::db::servers::Servers;
use serde::Serialize;

use super::TenantSlug;
use super::runtime::{self, RuntimeOptions, container_name};
use super::store::{self, Tenant};
use crate::progress::Progress;
use crate::runtime::Engine;
use crate::runtime::container::{ContainerState, TENANT};

/// What a survey found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Survey {
    /// This installation's containers, all told.
    pub containers: usize,
    /// Containers of this installation that no live tenant owns: the tenant was deleted while the
    /// engine was unreachable, or the container was copied or renamed.
    pub orphans: Vec<Orphan>,
    /// Tenants marked running: how many are running healthy, and those that are not.
    pub running: usize,
    pub down: Vec<Down>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub container: String,
    pub tenant: Option<String>,
    pub status: String,
}

/// A tenant marked running whose container is missing, stopped or unhealthy.
#[derive(Debug, Clone, Serialize)]
pub struct Down {
    pub tenant: String,
    /// The container's state; `None` when it vanished.
    pub status: Option<String>,
    pub health: Option<String>,
}

impl Down {
    /// Unhealthy bots are left to their restart policy and the operator: `start` would only see them
    /// fail their healthcheck again and remove them.
    pub fn repairable(&self) -> bool {
        self.status.as_deref() != Some("running")
    }

    pub fn describe(&self) -> String {
        match (&self.status, &self.health) {
            (None, _) => format!("{} (no container)", self.tenant),
            (Some(status), Some(health)) => format!("{} ({status}, {health})", self.tenant),
            (Some(status), None) => format!("{} ({status})", self.tenant),
        }
    }
}

impl Survey {
    /// What `doctor --fix` would do.
    pub fn repairs(&self) -> Vec<Repair> {
        let remove = self.orphans.iter().map(|o| Repair::RemoveContainer { container: o.container.clone() });
        let start =
            self.down.iter().filter(|d| d.repairable()).map(|d| Repair::StartTenant { tenant: d.tenant.clone() });
        remove.chain(start).collect()
    }
}

/// Reads both sides: the live tenants (from the control plane, `control`) and this installation's
/// containers.
pub async fn survey(control: &sqlx::PgPool, engine: &Engine, installation: &str) -> anyhow::Result<Survey> {
    let tenants = store::list(&mut *control.acquire().await?, None).await?;
    let containers = engine.managed_containers(installation).await?;
    Ok(compare(&tenants, containers))
}

/// Pairs tenants with containers by name, the one place a tenant's container can be.
fn compare(tenants: &[Tenant], containers: Vec<ContainerState>) -> Survey {
    let total = containers.len();
    let mut by_name: HashMap<String, ContainerState> = HashMap::new();
    let mut orphans = Vec::new();
    for container in containers {
        let tenant = container.labels.get(TENANT).cloned();
        let owned = tenant
            .as_deref()
            .is_some_and(|t| container.name == container_name(t) && tenants.iter().any(|live| live.slug == t));
        if owned {
            by_name.insert(container.name.clone(), container);
        } else {
            orphans.push(Orphan { container: container.name, tenant, status: container.status });
        }
    }
    orphans.sort_by(|a, b| a.container.cmp(&b.container));
    let mut survey = Survey { containers: total, orphans, ..Survey::default() };
    for tenant in tenants.iter().filter(|t| t.status == "running") {
        let container = by_name.get(&container_name(&tenant.slug));
        match container {
            Some(c) if c.status == "running" && c.health.as_deref() != Some("unhealthy") => survey.running += 1,
            _ => survey.down.push(Down {
                tenant: tenant.slug.clone(),
                status: container.map(|c| c.status.clone()),
                health: container.and_then(|c| c.health.clone()),
            }),
        }
    }
    survey
}

/// One repair `doctor --fix` makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Repair {
    RemoveContainer { container: String },
    StartTenant { tenant: String },
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Repair::RemoveContainer { container } => {
                write!(f, "remove container {container}, which belongs to no tenant")
            }
            Repair::StartTenant { tenant } => write!(f, "start tenant {tenant}, which should be running"),
        }
    }
}

/// Makes one repair. Each is what the matching command does, so running it twice is harmless.
pub async fn repair(
    servers: &Servers,
    engine: &Engine,
    repair: &Repair,
    options: &RuntimeOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    match repair {
        Repair::RemoveContainer { container } => {
            // Looked at again: it may have been claimed or removed since the survey.
            let Some(found) = engine.container(container).await? else { return Ok(()) };
            let label = |key| found.labels.get(key).map(String::as_str);
            if label(crate::runtime::container::INSTALLATION) != Some(options.installation.as_str()) {
                anyhow::bail!("container `{container}` is not this installation's; left alone");
            }
            let tenant = label(TENANT).and_then(|t| t.parse::<TenantSlug>().ok());
            if let Some(slug) = tenant.filter(|t| container_name(t.as_str()) == *container) {
                // Its tenant may have been recreated since the survey: then the container is its own.
                let _lock = runtime::lock(servers, &slug).await?;
                if store::find(&mut *servers.control().acquire().await?, slug.as_str()).await?.is_some() {
                    anyhow::bail!("container `{container}` belongs to tenant `{slug}` again; left alone");
                }
                return engine.remove_container(container).await;
            }
            engine.remove_container(container).await
        }
        Repair::StartTenant { tenant } => {
            let slug: TenantSlug = tenant.parse()?;
            runtime::start(servers, engine, &slug, options, actor, progress).await.map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(slug: &str, status: &str) -> Tenant {
        Tenant {
            slug: slug.into(),
            display_name: slug.into(),
            bot_id: 1,
            bot_username: "b".into(),
            token_fingerprint: String::new(),
            admins: vec![1],
            timezone: "UTC".into(),
            locale: "en".into(),
            template: "clinic".into(),
            status: status.into(),
            schema_version: 1,
            image: None,
            memory_mb: None,
            cpus: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            deleted_at: None,
            final_backup: None,
            server: "main".into(),
        }
    }

    fn container(name: &str, tenant: &str, status: &str, health: Option<&str>) -> ContainerState {
        ContainerState {
            id: name.into(),
            name: name.into(),
            image: "botctl:test".into(),
            image_id: "sha256:1".into(),
            status: status.into(),
            health: health.map(str::to_string),
            health_probed: false,
            healthz: None,
            health_interval: None,
            labels: HashMap::from([(TENANT.to_string(), tenant.to_string())]),
        }
    }

    #[test]
    fn containers_without_a_live_tenant_are_orphans_and_running_tenants_without_a_bot_are_down() {
        let tenants = [
            tenant("up", "running"),
            tenant("gone", "running"),
            tenant("halted", "running"),
            tenant("sick", "running"),
            tenant("idle", "stopped"),
        ];
        let containers = vec![
            container("botctl-up", "up", "running", Some("healthy")),
            container("botctl-halted", "halted", "exited", None),
            container("botctl-sick", "sick", "running", Some("unhealthy")),
            container("botctl-idle", "idle", "exited", None),
            container("botctl-deleted", "deleted", "exited", None),
            container("copy-of-up", "up", "created", None),
        ];
        let survey = compare(&tenants, containers);
        assert_eq!(survey.containers, 6);
        assert_eq!(survey.running, 1);
        let orphans: Vec<_> = survey.orphans.iter().map(|o| o.container.as_str()).collect();
        assert_eq!(orphans, ["botctl-deleted", "copy-of-up"]);
        let down: Vec<_> = survey.down.iter().map(Down::describe).collect();
        assert_eq!(down, ["gone (no container)", "halted (exited)", "sick (running, unhealthy)"]);
        assert_eq!(
            survey.repairs(),
            [
                Repair::RemoveContainer { container: "botctl-deleted".into() },
                Repair::RemoveContainer { container: "copy-of-up".into() },
                Repair::StartTenant { tenant: "gone".into() },
                Repair::StartTenant { tenant: "halted".into() },
            ]
        );
    }
}
