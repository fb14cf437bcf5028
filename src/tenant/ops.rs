//! Tenant operations: each takes an `*Options` value, works in as few transactions as it can, records
//! an operator event, and returns data for the CLI to print. Nothing here prints or prompts.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;

use super::TenantSlug;
use super::business::{self, Identity};
use super::store::{self, Changes, Event, NewTenant, Tenant};
use crate::billing;
use crate::config::template::{Locale, Template};
use crate::db::migrate::{self, MigrationInfo};
use crate::db::servers::{self, CommitError, Server, ServerName, Servers, Transactions};
use crate::db::{self, provision};
use crate::error::BadInput;
use crate::progress::Progress;
use crate::telegram::{self, BotToken};

/// Everything `tenant create` needs, already validated.
pub struct CreateOptions {
    pub slug: TenantSlug,
    pub token: BotToken,
    pub admins: Vec<i64>,
    pub timezone: chrono_tz::Tz,
    pub locale: Locale,
    /// Defaults to the template's display name.
    pub display_name: Option<String>,
    pub template: Template,
    /// Container limits of its own; `None` follows the configured defaults.
    pub memory_mb: Option<u32>,
    pub cpus: Option<f64>,
    pub telegram_api_url: url::Url,
    /// The server for its schema; `None` places it on the one with the most room.
    pub server: Option<ServerName>,
}

/// Creates a complimentary tenant (one that never expires): see [`create_subscribed`].
pub async fn create(
    servers: &Servers,
    options: &CreateOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Tenant> {
    create_subscribed(servers, options, &billing::Start::Complimentary, actor, progress).await
}

/// Creates a tenant: confirms the token with `getMe`, places it on a server, then records it and its
/// subscription (begun as `start` says, at `now`), creates its role and schema, migrates and seeds the
/// schema and records the event. On `main` that is one transaction: a failure anywhere, or an
/// interruption, rolls all of it back. On another server see [`commit_new`].
pub async fn create_subscribed(
    servers: &Servers,
    options: &CreateOptions,
    start: &billing::Start,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Tenant> {
    let slug = &options.slug;
    progress.set_message("checking the bot token with Telegram (getMe)");
    let me = telegram::get_me(&options.telegram_api_url, &options.token).await?;
    progress.set_message("creating the tenant's role and schema");
    let mut tx = Transactions::begin(servers).await?;
    if store::find(tx.control(), slug.as_str()).await?.is_some() {
        return Err(BadInput::new(format!("tenant `{slug}` already exists")).into());
    }
    if let Some(other) = store::find_by_bot(tx.control(), me.id).await? {
        return Err(bot_taken(&me.username, &other));
    }
    let placed = servers::place(tx.control(), options.server.as_ref()).await?;
    let server = servers.get(&placed).await?;
    let mut tx = tx.on(&server).await?;
    let display_name = options.display_name.as_deref().unwrap_or(&options.template.display_name);
    let timezone = options.timezone.name();
    let locale = options.locale.to_string();
    let new = NewTenant {
        slug: slug.as_str(),
        display_name,
        bot_id: me.id,
        bot_username: &me.username,
        token: options.token.expose(),
        admins: &options.admins,
        timezone,
        locale: &locale,
        template: &options.template.name,
        memory_mb: options.memory_mb.map(megabytes),
        cpus: options.cpus,
        server: &placed,
    };
    // The unique indexes settle races between two creates that both passed the checks above.
    store::insert(tx.control(), &new).await.map_err(|e| match unique_violation(&e) {
        Some("tenants_live_bot") => bot_taken(&me.username, "another tenant"),
        Some(_) => BadInput::new(format!("tenant `{slug}` already exists")).into(),
        None => anyhow::Error::new(e).context("recording the tenant"),
    })?;
    let live = provision_on(&mut tx, &server, slug).await?;
    provision::enter_schema(tx.tenant(), slug).await?;
    progress.set_message("migrating and seeding the tenant's schema");
    migrate::apply(tx.tenant(), &migrate::tenant_migrator(slug)).await.context("migrating the tenant schema")?;
    let who = Identity { display_name, timezone, locale: &locale, owners: &options.admins };
    business::seed(tx.tenant(), &options.template, &who)
        .await
        .context("seeding the tenant schema from its template")?;
    store::set_schema_version(tx.control(), slug.as_str(), migrate::tenant_latest()).await?;
    let details = json!({
        "display_name": display_name, "bot_id": me.id, "bot_username": me.username, "admins": options.admins,
        "timezone": timezone, "locale": locale, "template": options.template.name, "server": placed,
    });
    store::record(tx.control(), actor, Some(slug.as_str()), "tenant.create", details).await?;
    billing::subscription::begin(tx.control(), slug.as_str(), start, actor, chrono::Utc::now())
        .await
        .context("beginning the tenant's subscription")?;
    commit_new(tx, &server, slug, &live).await?;
    show(servers, slug).await
}

/// Creates the new tenant's role and schema on `server`, after its control-plane record was inserted
/// in `tx` (so no other create of the slug is under way: it waits on that record's unique index).
/// Returns the schemas of the live tenants beside it there, for [`commit_new`].
///
/// On a server other than `main` a role or schema of this name with no live tenant is a leftover of a
/// create whose control-plane commit failed after the server's had succeeded and whose cleanup failed
/// too (see [`commit_new`]): it is dropped first. On `main` nothing can be left over (one transaction),
/// and a role that is there anyway fails the create, as it always did.
pub(super) async fn provision_on(
    tx: &mut Transactions,
    server: &Server,
    slug: &TenantSlug,
) -> anyhow::Result<Vec<String>> {
    let live = store::live_beside(tx.control(), slug.as_str(), &server.name).await?;
    if tx.is_split() && provision::exists(tx.tenant(), slug).await? {
        tracing::warn!(tenant = %slug, server = %server.name, "dropping a role and schema left over by an earlier create");
        provision::drop_tenant(tx.tenant(), slug, &live).await.with_context(|| {
            format!("dropping the leftover role and schema {} on server `{}`", slug.schema(), server.name)
        })?;
    }
    provision::create_tenant(tx.tenant(), slug)
        .await
        .with_context(|| format!("creating role and schema {} on server `{}`", slug.schema(), server.name))?;
    Ok(live)
}

/// Commits a new tenant. Across two servers the tenant server's transaction commits first; when the
/// control plane's commit then fails, the role and schema just made there are dropped (best effort:
/// if that fails too, the next create of the slug finds and drops them, see [`provision_on`]).
pub(super) async fn commit_new(
    tx: Transactions,
    server: &Server,
    slug: &TenantSlug,
    live: &[String],
) -> anyhow::Result<()> {
    match tx.commit().await {
        Ok(()) => Ok(()),
        Err(CommitError::Control(e)) => {
            let undo = async { provision::drop_tenant(&mut *server.pool.acquire().await?, slug, live).await };
            if let Err(undo) = undo.await {
                tracing::warn!(tenant = %slug, server = %server.name, "cannot drop the new role and schema: {undo}");
            }
            Err(anyhow::Error::new(e).context(format!("committing the new tenant `{slug}`")))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("committing the new tenant `{slug}`"))),
    }
}

/// MiB as the control plane stores them; the parser already bounds them far below `i32::MAX`.
fn megabytes(mb: u32) -> i32 {
    i32::try_from(mb).unwrap_or(i32::MAX)
}

pub(super) fn bot_taken(username: &str, other: &str) -> anyhow::Error {
    BadInput::new(format!("bot @{username} already serves tenant `{other}`; one bot can serve one tenant")).into()
}

fn unique_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(db.constraint().unwrap_or_default()),
        _ => None,
    }
}

/// `work`'s outcome, where a statement that gave up waiting for a lock is told as which of the
/// tenant's tables another session holds.
pub(super) async fn explaining_locks<T>(
    servers: &Servers,
    slug: &TenantSlug,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let error = match work.await {
        Err(e) if db::is_lock_timeout(&e) => e,
        done => return done,
    };
    let schema = slug.schema();
    let locked = async {
        let server = servers.of_tenant(slug.as_str()).await?;
        let live = store::live_beside(&mut *servers.control().acquire().await?, slug.as_str(), &server.name).await?;
        let schemas = provision::tenant_schemas(&mut *server.pool.acquire().await?, slug, &live).await?;
        anyhow::Ok(db::locked_tables(&server.pool, &schemas).await?)
    };
    let why = match locked.await {
        Ok((tables, timeout)) if !tables.is_empty() => format!(
            "{} {} locked by another session (waited the lock timeout, {timeout}: backup.lock_timeout or --lock-timeout)",
            tables.join(", "),
            if tables.len() == 1 { "is" } else { "are" }
        ),
        // Released meanwhile, or not a table: another botctl's lock on this tenant.
        Ok(_) | Err(_) => format!(
            "a table of schema {schema}, or tenant `{slug}`'s migration lock, was held by another session for \
             longer than the lock timeout (backup.lock_timeout or --lock-timeout)"
        ),
    };
    Err(error.context(why))
}

/// A tenant whose delete began is neither started nor restored: only another delete finishes it.
pub fn refuse_deleting(tenant: &Tenant) -> anyhow::Result<()> {
    if tenant.status == "deleting" {
        let slug = &tenant.slug;
        return Err(BadInput::new(format!(
            "tenant `{slug}` is being deleted; `botctl tenant delete {slug}` finishes it"
        ))
        .into());
    }
    Ok(())
}

pub(crate) fn not_found(slug: &TenantSlug) -> anyhow::Error {
    BadInput::new(format!("no tenant `{slug}` (see `botctl tenant list`)")).into()
}

pub async fn show(servers: &Servers, slug: &TenantSlug) -> anyhow::Result<Tenant> {
    let mut conn = servers.control().acquire().await?;
    store::find(&mut conn, slug.as_str()).await?.ok_or_else(|| not_found(slug))
}

/// What the tenant's own schema says now: its outbox, and what the business changed in the bot.
pub struct Live {
    /// `None` while its schema has no outbox (not migrated to it yet).
    pub outbox: Option<business::OutboxCounts>,
    pub staffing: business::Staffing,
}

pub async fn live(servers: &Servers, slug: &TenantSlug) -> anyhow::Result<Live> {
    let server = servers.of_tenant(slug.as_str()).await?;
    let mut tx = server.pool.begin().await?;
    provision::enter_schema(&mut tx, slug).await?;
    let staffing = business::staffing(&mut tx).await?;
    // A failed statement ends the transaction's usefulness: the outbox is read last.
    let outbox = match business::outbox_counts(&mut tx).await {
        Ok(counts) => Some(counts),
        // undefined_table
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => None,
        Err(e) => return Err(e.into()),
    };
    Ok(Live { outbox, staffing })
}

pub async fn list(servers: &Servers, status: Option<&str>) -> anyhow::Result<Vec<Tenant>> {
    let mut conn = servers.control().acquire().await?;
    Ok(store::list(&mut conn, status).await?)
}

pub async fn events(servers: &Servers, slug: Option<&TenantSlug>, limit: i64) -> anyhow::Result<Vec<Event>> {
    let mut conn = servers.control().acquire().await?;
    Ok(store::events(&mut conn, slug.map(TenantSlug::as_str), limit).await?)
}

/// What `tenant update` may change; `None` keeps a value.
#[derive(Default)]
pub struct UpdateOptions {
    pub display_name: Option<String>,
    pub admins: Option<Vec<i64>>,
    pub timezone: Option<chrono_tz::Tz>,
    pub locale: Option<Locale>,
    pub token: Option<BotToken>,
    /// Allows a new token to belong to a different bot.
    pub force: bool,
    /// `Some(None)` returns a limit to the configured default.
    pub memory_mb: Option<Option<u32>>,
    pub cpus: Option<Option<f64>>,
    pub telegram_api_url: Option<url::Url>,
}

/// The outcome of an update: the tenant afterwards and each changed field's old and new value.
#[derive(Debug, Serialize)]
pub struct Updated {
    pub tenant: Tenant,
    pub changes: BTreeMap<&'static str, Change>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

/// Changes a tenant in the control plane and, for what the bot reads, in its schema: one transaction
/// on `main`; on another server, its schema's transaction commits first, then the control plane's (a
/// failure between them is mended by running the same update again).
pub async fn update(
    servers: &Servers,
    slug: &TenantSlug,
    options: &UpdateOptions,
    actor: &str,
) -> anyhow::Result<Updated> {
    let me = match (&options.token, &options.telegram_api_url) {
        (Some(token), Some(api)) => Some(telegram::get_me(api, token).await?),
        (Some(_), None) => anyhow::bail!("a new token needs the Bot API URL to check it"),
        _ => None,
    };
    let mut tx = Transactions::begin(servers).await?;
    let before = store::find_for_update(tx.control(), slug.as_str()).await?.ok_or_else(|| not_found(slug))?;
    let mut tx = tx.on(&servers.get(&before.server).await?).await?;
    if let Some(me) = &me {
        if me.id != before.bot_id && !options.force {
            return Err(BadInput::new(format!(
                "the new token belongs to bot @{} ({}), not to this tenant's bot @{} ({}); pass --force to switch bots",
                me.username, me.id, before.bot_username, before.bot_id
            ))
            .into());
        }
        if let Some(other) = store::find_by_bot(tx.control(), me.id).await?.filter(|o| o != slug.as_str()) {
            return Err(bot_taken(&me.username, &other));
        }
    }
    let locale = options.locale.map(|l| l.to_string());
    let timezone = options.timezone.map(|tz| tz.name());
    let changes = Changes {
        display_name: options.display_name.as_deref(),
        admins: options.admins.as_deref(),
        timezone,
        locale: locale.as_deref(),
        bot: me.as_ref().zip(options.token.as_ref()).map(|(me, t)| (me.id, me.username.as_str(), t.expose())),
        memory_mb: options.memory_mb.map(|mb| mb.map(megabytes)),
        cpus: options.cpus,
    };
    let after = store::update(tx.control(), slug.as_str(), &changes).await?;
    provision::enter_schema(tx.tenant(), slug).await?;
    business::update_settings(tx.tenant(), changes.display_name, timezone, changes.locale).await?;
    if let Some(admins) = changes.admins {
        business::set_owners(tx.tenant(), admins).await?;
    }
    let diff = diff(&before, &after, options.token.is_some());
    if !diff.is_empty() {
        let details = serde_json::to_value(&diff)?;
        store::record(tx.control(), actor, Some(slug.as_str()), "tenant.update", details).await?;
    }
    tx.commit().await?;
    Ok(Updated { tenant: after, changes: diff })
}

/// Field-by-field differences, with the token shown only as its fingerprint.
fn diff(before: &Tenant, after: &Tenant, token_given: bool) -> BTreeMap<&'static str, Change> {
    let mut changes = BTreeMap::new();
    let mut field = |name, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changes.insert(name, Change { from, to });
        }
    };
    field("display_name", json!(before.display_name), json!(after.display_name));
    field("admins", json!(before.admins), json!(after.admins));
    field("timezone", json!(before.timezone), json!(after.timezone));
    field("locale", json!(before.locale), json!(after.locale));
    field("bot", json!(before.bot_username), json!(after.bot_username));
    field("memory_mb", json!(before.memory_mb), json!(after.memory_mb));
    field("cpus", json!(before.cpus), json!(after.cpus));
    if token_given {
        field("token_fingerprint", json!(before.token_fingerprint), json!(after.token_fingerprint));
    }
    changes
}

/// The first step of `tenant delete`, after its final backup (`final_backup`) and before anything is
/// removed: the tenant is `deleting` from now on, and a delete that fails later is finished by the
/// next one without another backup.
pub async fn begin_delete(
    servers: &Servers,
    slug: &TenantSlug,
    final_backup: Option<&str>,
    actor: &str,
) -> anyhow::Result<()> {
    let mut tx = servers.control().begin().await?;
    store::find_for_update(&mut tx, slug.as_str()).await?.ok_or_else(|| not_found(slug))?;
    store::mark_deleting(&mut tx, slug.as_str(), final_backup).await?;
    store::record(&mut tx, actor, Some(slug.as_str()), "tenant.delete.begin", json!({ "final_backup": final_backup }))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a tenant: drops its schemas (kept ones too) and role on its server, marks it deleted and
/// forgets its bot token; its events remain. One transaction on `main`, so it is all done or, on a
/// failure, all still to do; on another server the drops commit first, and a failure after them
/// leaves the tenant `deleting`, for the next delete to finish (the drops skip what is gone).
pub async fn delete(servers: &Servers, slug: &TenantSlug, actor: &str) -> anyhow::Result<Tenant> {
    explaining_locks(servers, slug, async {
        let mut tx = Transactions::begin(servers).await?;
        let tenant = store::find_for_update(tx.control(), slug.as_str()).await?.ok_or_else(|| not_found(slug))?;
        let mut tx = tx.on(&servers.get(&tenant.server).await?).await?;
        let live = store::live_beside(tx.control(), slug.as_str(), &tenant.server).await?;
        provision::drop_tenant(tx.tenant(), slug, &live).await.with_context(|| {
            format!("dropping the schemas and role {} on server `{}`", slug.schema(), tenant.server)
        })?;
        // Its money rows stay; the subscription ends with it.
        billing::subscription::cancel(tx.control(), slug.as_str(), chrono::Utc::now()).await?;
        store::mark_deleted(tx.control(), slug.as_str()).await?;
        let details = json!({
            "bot_id": tenant.bot_id, "bot_username": tenant.bot_username, "schema": slug.schema(),
            "final_backup": tenant.final_backup, "server": tenant.server,
        });
        store::record(tx.control(), actor, Some(slug.as_str()), "tenant.delete", details).await?;
        tx.commit().await?;
        Ok(tenant)
    })
    .await
}

/// Which tenants a fleet command (`migrate`, `tenant upgrade`, `backup`) works on.
pub enum Targets {
    All,
    Named(Vec<TenantSlug>),
}

impl Targets {
    /// Every live tenant, or those named, each checked to exist first.
    pub(super) async fn resolve(&self, servers: &Servers) -> anyhow::Result<Vec<TenantSlug>> {
        match self {
            Targets::All => Ok(list(servers, None).await?.iter().filter_map(|t| t.slug.parse().ok()).collect()),
            Targets::Named(names) => {
                for name in names {
                    show(servers, name).await?;
                }
                Ok(names.clone())
            }
        }
    }
}

/// Where each of a fleet command's tenants lives, every server among them reached once before the work
/// begins: a server that cannot be reached fails its own tenants, each with the one reason, and no other.
pub(super) struct Routes {
    server_of: HashMap<String, String>,
    reached: HashMap<String, Result<Server, String>>,
}

impl Routes {
    pub(super) async fn new(servers: &Servers, slugs: &[TenantSlug]) -> anyhow::Result<Self> {
        let all = store::servers_of(&mut *servers.control().acquire().await?).await?;
        let server_of: HashMap<String, String> =
            all.into_iter().filter(|(slug, _)| slugs.iter().any(|s| s.as_str() == slug)).collect();
        let reached = servers.reach(server_of.values().cloned()).await;
        Ok(Self { server_of, reached })
    }

    /// The name of the tenant's server, connected or not: what [`each_per_server`] groups by.
    pub(super) fn server_name(&self, slug: &TenantSlug) -> Option<&str> {
        self.server_of.get(slug.as_str()).map(String::as_str)
    }

    /// The tenant's server, connected, or why not.
    pub(super) fn server(&self, slug: &TenantSlug) -> Result<&Server, String> {
        let name = self.server_of.get(slug.as_str()).ok_or_else(|| format!("no tenant `{slug}`"))?;
        match self.reached.get(name) {
            Some(Ok(server)) => Ok(server),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("server `{name}` was not reached")),
        }
    }
}

/// Runs `work` on each tenant, `jobs` at a time in all, counting them on `progress`; the results come
/// back in the order they finish. (All of them one group of [`each_per_server`].)
pub(super) async fn each<'a, T, Fut>(
    slugs: &'a [TenantSlug],
    jobs: usize,
    progress: &'a dyn Progress,
    work: impl Fn(&'a TenantSlug) -> Fut,
) -> Vec<T>
where
    Fut: std::future::Future<Output = T> + 'a,
{
    each_per_server(slugs, |_| None, jobs, progress, work).await
}

/// Runs `work` on each tenant, at most `jobs` at a time on any one server (`server_of` names it) and the
/// servers side by side, counting them on `progress`; the results come back in the order they finish.
/// The limit is per server because each server's connections, CPU and disk are its own: a fleet on four
/// servers works on four times as many tenants at once, and no server on more than it did alone.
pub(super) async fn each_per_server<'a, T, Fut>(
    slugs: &'a [TenantSlug],
    server_of: impl Fn(&TenantSlug) -> Option<&'a str>,
    jobs: usize,
    progress: &'a dyn Progress,
    work: impl Fn(&'a TenantSlug) -> Fut,
) -> Vec<T>
where
    Fut: std::future::Future<Output = T> + 'a,
{
    progress.set_length(slugs.len() as u64);
    // Each server's tenants in their given order; a tenant of no known server gets a group of its own
    // kind (`None`), whose work fails at once.
    let mut groups: Vec<(Option<&str>, Vec<&'a TenantSlug>)> = Vec::new();
    for slug in slugs {
        let server = server_of(slug);
        match groups.iter_mut().find(|(s, _)| *s == server) {
            Some((_, group)) => group.push(slug),
            None => groups.push((server, vec![slug])),
        }
    }
    let work = &work;
    futures_util::stream::iter(groups)
        .map(|(_, group)| {
            futures_util::stream::iter(group)
                .map(move |slug| {
                    let done = work(slug);
                    async move {
                        let done = done.await;
                        progress.inc(1);
                        done
                    }
                })
                .buffer_unordered(jobs.max(1))
        })
        // Every server's stream at once: no limit across them.
        .flatten_unordered(None)
        .collect()
        .await
}

pub struct MigrateOptions {
    pub targets: Targets,
    pub dry_run: bool,
    /// How many tenants migrate at once on each server; each server's pool must allow as many
    /// connections.
    pub jobs: usize,
}

/// One tenant's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TenantMigrated {
    pub tenant: String,
    pub from: i64,
    pub to: i64,
    /// Applied, or with `--dry-run` the ones that would be.
    pub migrations: Vec<MigrationInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub latest: i64,
    pub dry_run: bool,
    /// Tenants the control plane already knew to be current: not opened at all.
    pub already_current: usize,
    pub tenants: Vec<TenantMigrated>,
}

impl MigrateReport {
    pub fn failed(&self) -> usize {
        self.tenants.iter().filter(|t| t.error.is_some()).count()
    }
}

/// Brings tenant schemas to this binary's version, `jobs` tenants at a time on each server, each under
/// its own lock.
/// One tenant's failure does not stop the others; the report names each.
pub async fn migrate(
    servers: &Servers,
    options: &MigrateOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<MigrateReport> {
    let latest = migrate::tenant_latest();
    let mut conn = servers.control().acquire().await?;
    let behind = store::behind(&mut conn, latest).await?;
    let (targets, total) = match &options.targets {
        Targets::All => {
            let total = usize::try_from(store::count_live(&mut conn).await?).unwrap_or(usize::MAX);
            (behind.iter().filter_map(|s| s.parse().ok()).collect::<Vec<TenantSlug>>(), total)
        }
        Targets::Named(names) => {
            for name in names {
                store::find(&mut conn, name.as_str()).await?.ok_or_else(|| not_found(name))?;
            }
            let targets = names.iter().filter(|n| behind.iter().any(|b| b == n.as_str())).cloned().collect();
            (targets, names.len())
        }
    };
    drop(conn);
    progress.set_message("migrating tenants");
    let routes = Routes::new(servers, &targets).await?;
    let routes = &routes;
    let server_of = |slug: &TenantSlug| routes.server_name(slug);
    let mut tenants: Vec<TenantMigrated> =
        each_per_server(&targets, server_of, options.jobs, progress, |slug| async move {
            match routes.server(slug) {
                Ok(server) => migrate_one(servers, server, slug, options.dry_run, latest).await,
                Err(why) => TenantMigrated::failed(slug, why),
            }
        })
        .await;
    tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let report = MigrateReport { latest, dry_run: options.dry_run, already_current: total - targets.len(), tenants };
    if !options.dry_run && !report.tenants.is_empty() {
        let details = json!({
            "to": latest,
            "migrated": report.tenants.iter().filter(|t| t.error.is_none()).map(|t| &t.tenant).collect::<Vec<_>>(),
            "failed": report.tenants.iter().filter(|t| t.error.is_some()).map(|t| &t.tenant).collect::<Vec<_>>(),
        });
        let mut conn = servers.control().acquire().await?;
        store::record(&mut conn, actor, None, "migrate", details).await?;
    }
    Ok(report)
}

/// Migrates one tenant's schema on `server`, its tenant's, and records the version in the control plane.
pub(super) async fn migrate_one(
    servers: &Servers,
    server: &Server,
    slug: &TenantSlug,
    dry_run: bool,
    latest: i64,
) -> TenantMigrated {
    let result = explaining_locks(servers, slug, async {
        let mut conn = server.pool.acquire().await?;
        let done = migrate::migrate_tenant(&mut conn, slug, dry_run).await;
        if done.is_err() {
            // Its session state (search path, lock) is unknown now: do not hand it to the next tenant.
            conn.close_on_drop();
        }
        let done = done?;
        drop(conn);
        if !dry_run {
            store::set_schema_version(&mut *servers.control().acquire().await?, slug.as_str(), latest).await?;
        }
        anyhow::Ok(done)
    })
    .await;
    match result {
        Ok(done) => TenantMigrated {
            tenant: slug.to_string(),
            from: done.before.current.unwrap_or(0),
            to: if dry_run { done.before.current.unwrap_or(0) } else { latest },
            migrations: if dry_run { done.before.pending } else { done.applied },
            error: None,
        },
        Err(e) => TenantMigrated::failed(slug, format!("{e:#}")),
    }
}

impl TenantMigrated {
    fn failed(slug: &TenantSlug, error: String) -> Self {
        Self { tenant: slug.to_string(), from: 0, to: 0, migrations: Vec::new(), error: Some(error) }
    }
}

/// A tenant's place relative to this binary, from the control plane alone.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationState {
    pub tenant: String,
    pub version: i64,
    pub latest: i64,
    pub pending: usize,
}

pub async fn migrate_status(servers: &Servers) -> anyhow::Result<Vec<MigrationState>> {
    let latest = migrate::tenant_latest();
    let versions: Vec<i64> = sqlx::migrate!("migrations/tenant").iter().map(|m| m.version).collect();
    Ok(list(servers, None)
        .await?
        .into_iter()
        .map(|t| MigrationState {
            pending: versions.iter().filter(|v| **v > t.schema_version).count(),
            tenant: t.slug,
            version: t.schema_version,
            latest,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// How many tenants' work runs at once, on each server and in all, at its highest.
    #[derive(Default)]
    struct Peaks {
        now: HashMap<String, usize>,
        peak: HashMap<String, usize>,
        now_all: usize,
        peak_all: usize,
    }

    #[tokio::test]
    async fn each_server_works_on_at_most_jobs_tenants_at_once_and_the_servers_side_by_side() {
        let servers = ["main", "pg2", "pg3"];
        // Uneven shares, interleaved as the control plane lists them: 9 on main, 6 on pg2, 2 on pg3.
        let placed: Vec<(TenantSlug, &str)> = (0..17)
            .map(|i| {
                let server = match i {
                    13 | 15 => servers[2],
                    _ if i % 2 == 1 => servers[1],
                    _ => servers[0],
                };
                (format!("t{i}").parse().unwrap(), server)
            })
            .collect();
        let slugs: Vec<TenantSlug> = placed.iter().map(|(s, _)| s.clone()).collect();
        let server_of = |slug: &TenantSlug| placed.iter().find(|(s, _)| s == slug).map(|(_, server)| *server);
        let peaks = Mutex::new(Peaks::default());
        let jobs = 2;
        let done: Vec<String> = each_per_server(&slugs, server_of, jobs, &crate::progress::NoProgress, |slug| {
            let server = server_of(slug).unwrap().to_string();
            let peaks = &peaks;
            async move {
                {
                    let mut p = peaks.lock().unwrap();
                    let now = p.now.entry(server.clone()).or_default();
                    *now += 1;
                    let now = *now;
                    let peak = p.peak.entry(server.clone()).or_default();
                    *peak = (*peak).max(now);
                    p.now_all += 1;
                    p.peak_all = p.peak_all.max(p.now_all);
                }
                // Several turns of the scheduler while counted, so that others start meanwhile if allowed.
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                }
                let mut p = peaks.lock().unwrap();
                *p.now.get_mut(&server).unwrap() -= 1;
                p.now_all -= 1;
                slug.to_string()
            }
        })
        .await;
        let mut done = done;
        done.sort();
        let mut expected: Vec<String> = slugs.iter().map(ToString::to_string).collect();
        expected.sort();
        assert_eq!(done, expected, "every tenant's work ran once");
        let peaks = peaks.into_inner().unwrap();
        let shares: HashMap<&str, usize> =
            servers.iter().map(|s| (*s, placed.iter().filter(|(_, on)| on == s).count())).collect();
        for server in servers {
            let peak = peaks.peak[server];
            assert!(peak <= jobs, "server {server} ran {peak} at once, over --jobs {jobs}");
            assert_eq!(peak, jobs.min(shares[server]), "server {server} used its own share of jobs");
        }
        let side_by_side: usize = servers.iter().map(|s| jobs.min(shares[s])).sum();
        assert_eq!(peaks.peak_all, side_by_side, "the servers worked side by side, not under one overall limit");
    }
}
