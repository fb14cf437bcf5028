//! Whole tenant operations as `tenant create|delete|start|restart` run them after their prompts, so
//! that the CLI and the operator bot run the same steps: create then start, the delete with its final
//! backup and its resumption, start and restart. Composes `ops`, `runtime` and `backup`; nothing here
//! prints or prompts (confirmation stays with the caller).

use std::borrow::Borrow;
use std::future::Future;
use std::path::PathBuf;

use crate::db::servers::Servers;
use anyhow::Context as _;
use serde::Serialize;

use super::TenantSlug;
use super::backup as tenant_backup;
use super::ops::{self, CreateOptions};
use super::runtime::{self, RuntimeOptions, Started};
use super::served;
use super::store::Tenant;
use crate::backup::Keep;
use crate::billing;
use crate::progress::Progress;
use crate::runtime::Engine;

/// How a tenant is deleted.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Where the final backup goes (the backup directory, one directory per tenant); `None` = no final backup.
    pub final_backup: Option<PathBuf>,
}

/// A finished delete.
#[derive(Debug, Serialize)]
pub struct Deleted {
    /// The tenant as it was just before its schema and role were dropped.
    pub tenant: Tenant,
    /// The final backup's path, if one was taken (or found from an earlier, interrupted delete).
    pub final_backup: Option<String>,
    /// True when this finished a delete begun earlier (then no backup was taken now).
    pub resumed: bool,
    /// Why no container was removed, when the engine was unreachable for a tenant that was not running.
    pub warning: Option<String>,
}

/// The whole delete as `tenant delete` does it after its confirmation: refuses a tenant `botctl demo`
/// serves, takes the final backup unless resuming or told not to (a failed backup deletes nothing),
/// marks the tenant deleting, removes its container, then drops its schemas and role.
///
/// `engine` is only needed for the container: an unreachable engine is tolerated (and told in
/// [`Deleted::warning`]) when the tenant is not running, since then nothing of it runs.
pub async fn delete(
    servers: &Servers,
    engine: anyhow::Result<&Engine>,
    slug: &TenantSlug,
    options: &DeleteOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Deleted> {
    let tenant = ops::show(servers, slug).await?;
    // Refused before the final backup, not only at the container's lock, so a refusal leaves no archive.
    served::refuse_if_by_demo(&mut *servers.control().acquire().await?, slug).await?;
    // A delete that failed after its final backup is finished without another one.
    let resumed = tenant.status == "deleting";
    let (final_backup, taken_now) = if resumed {
        (tenant.final_backup.clone(), false)
    } else {
        let taken = match &options.final_backup {
            Some(dest) => {
                progress.set_message(&format!("taking a final backup of tenant {slug}"));
                let taken = tenant_backup::backup_one(servers, slug, dest, &Keep::default()).await.map_err(|e| {
                    e.context(format!(
                        "the final backup of tenant `{slug}` failed, so nothing was deleted (--no-backup deletes \
                         without one)"
                    ))
                })?;
                taken.path.map(|p| p.display().to_string())
            }
            None => None,
        };
        ops::begin_delete(servers, slug, taken.as_deref(), actor)
            .await
            .map_err(|e| kept_backup(e, slug, taken.as_deref()))?;
        (taken, true)
    };
    let done = async {
        // The bot goes first, so nothing runs on a role that no longer exists. A tenant that was never
        // started needs no engine.
        progress.set_message(&format!("removing the container of tenant {slug}"));
        let warning = match engine {
            Ok(engine) => {
                runtime::remove(servers, engine, slug).await?;
                None
            }
            Err(e) if tenant.status != "running" => Some(format!("not removing a container: {e:#}")),
            Err(e) => {
                return Err(e.context(format!("tenant `{slug}` is running; its container must be removed first")));
            }
        };
        progress.set_message(&format!("dropping the schemas and role of tenant {slug}"));
        let tenant = ops::delete(servers, slug, actor).await.with_context(|| {
            format!("deleting tenant `{slug}` (it is marked deleting: `botctl tenant delete {slug}` again finishes it)")
        })?;
        anyhow::Ok((tenant, warning))
    };
    let (tenant, warning) =
        done.await.map_err(|e| if taken_now { kept_backup(e, slug, final_backup.as_deref()) } else { e })?;
    Ok(Deleted { tenant, final_backup, resumed, warning })
}

/// A step after the final backup failed: where that backup is must not be lost with the error.
fn kept_backup(error: anyhow::Error, slug: &TenantSlug, path: Option<&str>) -> anyhow::Error {
    match path {
        Some(path) => error.context(format!("tenant `{slug}` was backed up to {path} before this failed")),
        None => error,
    }
}

/// Creates a tenant (`ops::create_subscribed`) and, when `start` is given, starts its bot. A failed
/// start leaves the tenant created and stopped, and the error says so.
pub async fn create(
    servers: &Servers,
    options: &CreateOptions,
    subscription: &billing::Start,
    start: Option<(&Engine, &RuntimeOptions)>,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Tenant> {
    create_then_start(servers, options, subscription, start.map(|s| std::future::ready(Ok(s))), actor, progress).await
}

/// [`create`], where the engine and the runtime options come from `start`, awaited only once the tenant
/// exists: a caller that connects to Docker only for the start (the CLI) gets a failure to connect told
/// as a failed start, with the tenant created and stopped.
pub async fn create_then_start<E: Borrow<Engine>, R: Borrow<RuntimeOptions>>(
    servers: &Servers,
    options: &CreateOptions,
    subscription: &billing::Start,
    start: Option<impl Future<Output = anyhow::Result<(E, R)>>>,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Tenant> {
    let tenant = ops::create_subscribed(servers, options, subscription, actor, progress).await?;
    let Some(start) = start else { return Ok(tenant) };
    let slug = &options.slug;
    let started = async {
        let (engine, runtime_options) = start.await?;
        runtime::start(servers, engine.borrow(), slug, runtime_options.borrow(), actor, progress).await
    };
    if let Err(e) = started.await {
        return Err(e.context(format!(
            "tenant `{slug}` was created, but its bot did not start, so it is stopped: `botctl tenant start {slug}` \
             tries again (`--no-start` creates a tenant without starting it)"
        )));
    }
    ops::show(servers, slug).await
}

/// Starts the tenant's bot as `tenant start` does, or with `restart` stops it first as `tenant restart`
/// does. A tenant being deleted is refused before anything is touched.
pub async fn start(
    servers: &Servers,
    engine: &Engine,
    slug: &TenantSlug,
    options: &RuntimeOptions,
    restart: bool,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Started> {
    ops::refuse_deleting(&ops::show(servers, slug).await?)?;
    if restart {
        progress.set_message(&format!("stopping tenant {slug}"));
        runtime::stop(servers, engine, slug, actor).await?;
    }
    runtime::start(servers, engine, slug, options, actor, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: &T) {}

    /// The operator bot runs these on spawned tasks: their futures must stay `Send`.
    #[allow(dead_code)]
    async fn futures_are_send(
        servers: &Servers,
        engine: &Engine,
        slug: &TenantSlug,
        create: &CreateOptions,
        runtime: &RuntimeOptions,
    ) {
        let progress = crate::progress::NoProgress;
        let options = DeleteOptions::default();
        let deleting = delete(servers, Ok(engine), slug, &options, "t", &progress);
        send(&deleting);
        let creating =
            super::create(servers, create, &billing::Start::Complimentary, Some((engine, runtime)), "t", &progress);
        send(&creating);
        let starting = start(servers, engine, slug, runtime, true, "t", &progress);
        send(&starting);
    }

    #[test]
    fn a_failure_after_the_final_backup_names_where_it_is() {
        let slug: TenantSlug = "acme".parse().unwrap();
        let error = kept_backup(anyhow::anyhow!("locked"), &slug, Some("/b/acme/x.tar.zst"));
        assert_eq!(format!("{error:#}"), "tenant `acme` was backed up to /b/acme/x.tar.zst before this failed: locked");
        assert_eq!(format!("{:#}", kept_backup(anyhow::anyhow!("locked"), &slug, None)), "locked");
    }
}
