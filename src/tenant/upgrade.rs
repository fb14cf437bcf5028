//! `tenant upgrade`: moves tenants to another image, one tenant at a time under its lock — migrate the
//! schema, stop the old bot (one poller per token), start the new one, and roll back to the old image
//! when the new one does not become healthy. A Swarm service is moved by Swarm's own rolling update
//! (stop-first); botctl then waits for the new bot's health and rolls the service back itself when it
//! does not come (Swarm rolls back by itself only a task that exits while it watches it).

use serde::Serialize;
use serde_json::json;

use super::TenantSlug;
use super::ops::{self, Targets};
use super::runner::{InPlace, Runner};
use super::runtime::{self, RuntimeOptions, STOP_GRACE, container_name};
use super::store;
use crate::db::migrate;
use crate::db::servers::Servers;
use crate::error::BadInput;
use crate::progress::Progress;
use crate::runtime::Engine;

pub struct UpgradeOptions {
    pub targets: Targets,
    /// The image to move to.
    pub image: String,
    /// How many tenants upgrade at once on each server; each server's pool must allow twice as many
    /// connections.
    pub jobs: usize,
}

/// How one tenant's upgrade ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// On the new image (a stopped tenant starts on it next time).
    Upgraded,
    /// Already on that image with a current schema: nothing was touched.
    Current,
    /// The new image did not become healthy; the bot runs on its old image again.
    RolledBack,
    /// Neither image runs it, or the schema could not be migrated (then nothing else was touched).
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantUpgraded {
    pub tenant: String,
    pub from: Option<String>,
    pub to: String,
    pub schema_from: i64,
    pub schema_to: i64,
    pub outcome: Outcome,
    /// Whether its bot runs now.
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    pub image: String,
    pub tenants: Vec<TenantUpgraded>,
}

impl UpgradeReport {
    /// Tenants that failed or were rolled back: either way the upgrade did not happen.
    pub fn not_upgraded(&self) -> usize {
        self.tenants.iter().filter(|t| matches!(t.outcome, Outcome::Failed | Outcome::RolledBack)).count()
    }
}

/// Refuses, before any engine is asked, tenants named for an upgrade that do not exist or are being
/// deleted; with `--all`, a tenant being deleted is refused in its own row of the report instead.
pub async fn refuse_named(servers: &Servers, targets: &Targets) -> anyhow::Result<()> {
    if let Targets::Named(slugs) = targets {
        for slug in slugs {
            ops::refuse_deleting(&ops::show(servers, slug).await?)?;
        }
    }
    Ok(())
}

/// Upgrades the targeted tenants, `jobs` at a time on each server (each migrates its schema there); one
/// tenant's failure does not stop the others.
pub async fn upgrade(
    servers: &Servers,
    engine: &Engine,
    options: &UpgradeOptions,
    runtime: &RuntimeOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<UpgradeReport> {
    let image = local_image(engine, &options.image).await?;
    let slugs = options.targets.resolve(servers).await?;
    progress.set_message("upgrading tenants");
    let target = &Target { tag: &options.image, id: &image.id };
    let routes = &ops::Routes::new(servers, &slugs).await?;
    let server_of = |slug: &TenantSlug| routes.server_name(slug);
    let mut tenants: Vec<TenantUpgraded> =
        ops::each_per_server(&slugs, server_of, options.jobs, progress, |slug| async move {
            match routes.server(slug) {
                Ok(_) => upgrade_one(servers, engine, slug, target, runtime, actor).await,
                Err(why) => TenantUpgraded { error: Some(why), ..TenantUpgraded::new(slug, target) },
            }
        })
        .await;
    tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(UpgradeReport { image: options.image.clone(), tenants })
}

/// One tenant's upgrade to `image`, as `upgrade` does it for each: for a caller with one tenant in hand
/// (the operator bot), without the fleet's concurrency.
pub async fn upgrade_tenant(
    servers: &Servers,
    engine: &Engine,
    slug: &TenantSlug,
    image: &str,
    runtime: &RuntimeOptions,
    actor: &str,
) -> anyhow::Result<TenantUpgraded> {
    ops::show(servers, slug).await?;
    let found = local_image(engine, image).await?;
    Ok(upgrade_one(servers, engine, slug, &Target { tag: image, id: &found.id }, runtime, actor).await)
}

/// The image `tag` names on this engine; its absence is the operator's to fix.
async fn local_image(engine: &Engine, tag: &str) -> anyhow::Result<crate::runtime::ImageInfo> {
    match engine.image(tag).await? {
        Some(image) => Ok(image),
        None => Err(BadInput::new(format!(
            "image `{tag}` is not on this engine: build it with `botctl image build --tag {tag}`"
        ))
        .into()),
    }
}

impl TenantUpgraded {
    /// Nothing done yet: failed until it succeeds.
    fn new(slug: &TenantSlug, target: &Target<'_>) -> Self {
        Self {
            tenant: slug.to_string(),
            from: None,
            to: target.tag.to_string(),
            schema_from: 0,
            schema_to: 0,
            outcome: Outcome::Failed,
            running: false,
            error: None,
        }
    }
}

/// The image to move to: its tag for new containers, its id to tell whether a container already runs it.
struct Target<'a> {
    tag: &'a str,
    id: &'a str,
}

async fn upgrade_one(
    servers: &Servers,
    engine: &Engine,
    slug: &TenantSlug,
    target: &Target<'_>,
    options: &RuntimeOptions,
    actor: &str,
) -> TenantUpgraded {
    let mut report = TenantUpgraded::new(slug, target);
    if let Err(e) = steps(servers, engine, slug, target, options, &mut report).await {
        report.error = Some(format!("{e:#}"));
    }
    let details = json!({
        "from": report.from, "to": report.to, "outcome": report.outcome, "schema_from": report.schema_from,
        "schema_to": report.schema_to, "error": report.error,
    });
    if report.outcome != Outcome::Current
        && let Ok(mut conn) = servers.control().acquire().await
        && let Err(e) = store::record(&mut conn, actor, Some(slug.as_str()), "tenant.upgrade", details).await
    {
        tracing::warn!(tenant = %slug, "cannot record the upgrade event: {e}");
    }
    report
}

/// The upgrade of one tenant, filling in `report` as it goes; an error leaves `outcome` failed.
async fn steps(
    servers: &Servers,
    engine: &Engine,
    slug: &TenantSlug,
    target: &Target<'_>,
    options: &RuntimeOptions,
    report: &mut TenantUpgraded,
) -> anyhow::Result<()> {
    let _lock = runtime::lock(servers, slug).await?;
    let tenant = runtime::find(servers, slug).await?;
    // Neither its schema nor its container is touched: the delete under way finishes the tenant.
    ops::refuse_deleting(&tenant)?;
    let name = container_name(slug.as_str());
    let found = Runner::found(engine, &name).await?;
    let existing = runtime::inspect(found, slug, options).await?;
    let running = tenant.status == "running";
    report.from = existing.as_ref().map(|c| c.image.clone()).or_else(|| tenant.image.clone());
    report.schema_from = tenant.schema_version;
    report.schema_to = tenant.schema_version;
    report.running = existing.as_ref().is_some_and(|c| c.status == "running");
    let latest = migrate::tenant_latest();
    // A running tenant needs its container on the target; a stopped one, if it has one, too.
    let container_on_target = existing.as_ref().map_or(!running, |c| c.image_id == target.id);
    if container_on_target && tenant.schema_version == latest && tenant.image.as_deref() == Some(target.tag) {
        report.outcome = Outcome::Current;
        return Ok(());
    }

    // A failed migration changes nothing (each migration is one transaction): the old bot keeps running.
    let server = servers.get(&tenant.server).await?;
    let migrated = ops::migrate_one(servers, &server, slug, false, latest).await;
    if let Some(error) = migrated.error {
        anyhow::bail!("migrating the schema failed, so the old bot was left running: {error}");
    }
    report.schema_to = migrated.to;

    if !running {
        // The next `tenant start` makes the container from the new image.
        found.remove(&name).await?;
        store::set_image(&mut *servers.control().acquire().await?, slug.as_str(), target.tag).await?;
        report.outcome = Outcome::Upgraded;
        return Ok(());
    }
    // A bot of the configured kind that can move in place does (a service); one made in the other mode
    // is stopped and made again in this one.
    if Runner::configured(engine, options.mode).is_service() == found.is_service()
        && let Some(moved) = found.upgrade_in_place(&name, target.tag, target.id, options.health_timeout).await?
    {
        return settle(servers, slug, target, moved, report).await;
    }
    found.stop(&name, STOP_GRACE).await?;
    found.remove(&name).await?;
    report.running = false;
    let progress = crate::progress::NoProgress;
    let failed = match runtime::start_locked(servers, engine, slug, &tenant, target.tag, options, &progress).await {
        Ok(_) => {
            report.outcome = Outcome::Upgraded;
            report.running = true;
            return Ok(());
        }
        Err(e) => e,
    };
    let Some(old) = report.from.clone() else {
        return Err(failed.context("there is no earlier image to roll back to"));
    };
    match runtime::start_locked(servers, engine, slug, &tenant, &old, options, &progress).await {
        Ok(_) => {
            report.outcome = Outcome::RolledBack;
            report.running = true;
            report.error = Some(format!("{failed:#}"));
            Ok(())
        }
        Err(e) => Err(failed.context(format!("rolling back to {old} failed too: {e:#}"))),
    }
}

/// The report of a move in place: done, or rolled back (by Swarm or by botctl) with why, and whether
/// the old image's bot serves again.
async fn settle(
    servers: &Servers,
    slug: &TenantSlug,
    target: &Target<'_>,
    moved: InPlace,
    report: &mut TenantUpgraded,
) -> anyhow::Result<()> {
    let old = report.from.clone().unwrap_or_default();
    match moved {
        InPlace::Moved { unconfirmed } => {
            store::set_image(&mut *servers.control().acquire().await?, slug.as_str(), target.tag).await?;
            report.outcome = Outcome::Upgraded;
            report.running = true;
            if let Some(why) = unconfirmed {
                tracing::warn!(tenant = %slug, "its bot runs {}, but its health is unconfirmed: {why}", target.tag);
            }
            Ok(())
        }
        InPlace::RolledBack { why, by_swarm, logs, serving } => {
            report.outcome = Outcome::RolledBack;
            report.running = serving;
            let who = if by_swarm { "Swarm" } else { "botctl" };
            let still = if serving { "" } else { " (whose bot is not healthy yet either)" };
            report.error = Some(format!(
                "tenant `{slug}`'s bot did not become healthy on {} ({why}); {who} rolled its service back to \
                 {old}{still}. Its last log lines:\n{}",
                target.tag,
                logs.join("\n")
            ));
            Ok(())
        }
    }
}
