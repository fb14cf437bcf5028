//! `tenant move` and `tenant move --all-from`: a tenant's schema from one PostgreSQL server to another.
//! The target is prepared while the bot still runs; the bot is down only from the snapshot to the bot
//! healthy on the target; the control-plane record switches in one transaction; the source schema goes
//! only once the target is verified row by row and the bot runs there. Every step is journaled
//! (`journal`) so that a crash leaves a move the next `tenant move` finishes or rolls back, and a failure
//! anywhere leaves the tenant serving from where it was. Composes `ops`, `runtime`, `backup`, `restore`.

pub mod journal;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;

use self::journal::{Step, Unfinished};
use super::TenantSlug;
use super::backup as tenant_backup;
use super::ops;
use super::restore;
use super::runtime::{self, RuntimeOptions, STOP_GRACE, container_name};
use super::store::{self, Tenant};
use crate::backup::{self, Archive, Keep};
use crate::db::migrate;
use crate::db::provision;
use crate::db::servers::{self, Server, ServerName, Servers, Transactions};
use crate::db::snapshot;
use crate::error::BadInput;
use crate::progress::{NoProgress, Progress};
use crate::runtime::Engine;

/// How tenants move.
#[derive(Debug, Clone)]
pub struct MoveOptions {
    /// The server to move to; `None` (only with `--all-from`) lets placement pick one for each tenant.
    pub to: Option<ServerName>,
    /// Moves onto a server that is draining.
    pub force: bool,
    /// Where the move's archive stays (the backup directory, one directory per tenant).
    pub dest: PathBuf,
    /// `--all-from`: how many tenants move at once.
    pub jobs: usize,
}

/// The containers' side of a move: a running tenant needs the engine; a stopped one moves without it.
pub enum Containers<'a> {
    Engine(&'a Engine, &'a RuntimeOptions),
    /// Why there is no engine.
    Unreachable(String),
}

/// One table as the move copied it: the rows the target holds, equal to the archive's.
#[derive(Debug, Clone, Serialize)]
pub struct TableCopied {
    pub table: String,
    pub rows: u64,
}

/// A finished move.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub tenant: String,
    pub from: String,
    pub to: String,
    pub tables: Vec<TableCopied>,
    pub rows: u64,
    /// Whether its bot runs (on the target) now.
    pub running: bool,
    /// From the bot told to stop to the bot healthy on the target; `None` for a tenant that was not running.
    pub downtime_ms: Option<u64>,
    /// The archive the move took, kept in the backup directory.
    pub archive: Option<PathBuf>,
    /// A move a crash had interrupted, finished or rolled back before this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Recovered>,
    pub warnings: Vec<String>,
}

/// What became of an unfinished move found in the journal.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    pub from: String,
    pub to: String,
    /// The step it had reached.
    pub step: Step,
    /// `done` (the record had switched: finished) or `rolled_back`.
    pub outcome: Step,
}

/// Moves tenant `slug` to `options.to`, or finishes an interrupted move of it. Refusals (exit 2): an
/// unknown tenant or server, a tenant being deleted, the server it is on, a draining server without
/// `force`. Any failure leaves the tenant on the server the control plane names, serving if it was.
pub async fn move_tenant(
    servers: &Servers,
    containers: &Containers<'_>,
    slug: &TenantSlug,
    options: &MoveOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Moved> {
    let to = options.to.as_ref().ok_or_else(|| BadInput::new("tenant move needs --to SERVER"))?;
    ops::show(servers, slug).await?;
    let _lock = runtime::lock_for_move(servers, slug).await?;
    let recovered = match journal::unfinished(&mut *servers.control().acquire().await?, slug.as_str()).await? {
        Some(unfinished) => {
            progress.set_message(&format!("finishing the interrupted move of tenant {slug}"));
            Some(recover(servers, containers, slug, unfinished, actor).await?)
        }
        None => None,
    };
    let tenant = runtime::find(servers, slug).await?;
    if tenant.server == to.as_str()
        && let Some(recovered) = recovered.as_ref().filter(|r| r.outcome == Step::Done && r.to == to.as_str())
    {
        return Ok(Moved {
            tenant: slug.to_string(),
            from: recovered.from.clone(),
            to: recovered.to.clone(),
            tables: Vec::new(),
            rows: 0,
            running: tenant.status == "running",
            downtime_ms: None,
            archive: None,
            recovered: Some(recovered.clone()),
            warnings: Vec::new(),
        });
    }
    refuse(servers, &tenant, to, options.force).await?;
    let was_running = tenant.status == "running";
    if let (true, Containers::Unreachable(why)) = (was_running, containers) {
        anyhow::bail!("tenant `{slug}` is running, and moving it needs the Docker engine: {why}");
    }
    let source = servers.get(&tenant.server).await?;
    let target = servers.get(to.as_str()).await?;
    let id = {
        let mut conn = servers.control().acquire().await?;
        journal::begin(&mut conn, slug.as_str(), &source.name, &target.name, was_running).await?
    };
    let ctx = MoveCtx { servers, containers, slug, tenant, was_running, source, target, id, options, actor, progress };
    let mut moved = ctx.run().await?;
    moved.recovered = recovered;
    Ok(moved)
}

/// The refusals that need the tenant and the target.
async fn refuse(servers: &Servers, tenant: &Tenant, to: &ServerName, force: bool) -> anyhow::Result<()> {
    ops::refuse_deleting(tenant)?;
    let slug = &tenant.slug;
    let record = servers::record(&mut *servers.control().acquire().await?, to.as_str())
        .await?
        .ok_or_else(|| BadInput::new(format!("no server `{to}` (see `botctl server list`)")))?;
    if tenant.server == to.as_str() {
        return Err(BadInput::new(format!("tenant `{slug}` is on server `{to}` already")).into());
    }
    if record.draining && !force {
        return Err(BadInput::new(format!(
            "server `{to}` is draining: it takes no tenants (--force moves tenant `{slug}` there anyway)"
        ))
        .into());
    }
    Ok(())
}

/// What the move holds while the bot is down: the tenant's control-plane row (so nothing changes the
/// tenant meanwhile; the switch commits in this transaction) and its migration lock on the source.
struct Held {
    control: sqlx::Transaction<'static, sqlx::Postgres>,
    _migrations: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

/// What one move carries from step to step, so that each step reads as a method of it.
struct MoveCtx<'a> {
    servers: &'a Servers,
    containers: &'a Containers<'a>,
    slug: &'a TenantSlug,
    /// The tenant's record as it was when the move began (under its runtime lock).
    tenant: Tenant,
    was_running: bool,
    source: Server,
    target: Server,
    /// The move's row in the journal.
    id: i64,
    options: &'a MoveOptions,
    actor: &'a str,
    progress: &'a dyn Progress,
}

impl MoveCtx<'_> {
    /// The move under the tenant's runtime lock, journaled.
    async fn run(&self) -> anyhow::Result<Moved> {
        let (slug, source, target) = (self.slug, &self.source, &self.target);
        let mut moved = Moved {
            tenant: slug.to_string(),
            from: source.name.clone(),
            to: target.name.clone(),
            tables: Vec::new(),
            rows: 0,
            running: false,
            downtime_ms: None,
            archive: None,
            recovered: None,
            warnings: Vec::new(),
        };
        let mut stopped_at = None;
        if let Err(error) = self.copy_and_switch(&mut moved, &mut stopped_at).await {
            // The record may have switched even so, if the commit's answer was lost: look before undoing.
            let now_on = runtime::find(self.servers, slug).await.map(|t| t.server);
            if now_on.as_deref().ok() != Some(target.name.as_str()) {
                return Err(self.undo(error, &moved, stopped_at.is_some()).await);
            }
        }
        self.progress.set_message(&format!("starting tenant {slug} on server {}", target.name));
        match start_where_recorded(self.servers, self.containers, slug, self.was_running).await {
            Ok(running) => {
                moved.running = running;
                moved.downtime_ms = stopped_at.filter(|_| running).map(|at: Instant| millis(at.elapsed()));
            }
            Err(error) => {
                self.progress
                    .set_message(&format!("tenant {slug} is not healthy on server {}: switching back", target.name));
                return Err(self.switch_back(error).await);
            }
        }
        if let Containers::Unreachable(why) = self.containers {
            let name = container_name(slug.as_str());
            moved.warnings.push(format!(
                "no container was looked at ({why}): a stopped container `{name}` would still name server `{}`; \
                 remove it before `botctl tenant start {slug}`, which makes one for server `{}`",
                source.name, target.name
            ));
        }
        self.progress.set_message(&format!("dropping tenant {slug}'s schema and role on server {}", source.name));
        match drop_on(self.servers, source, slug).await {
            Ok(()) => journal::finish(&mut *self.servers.control().acquire().await?, self.id, Step::Done, None).await?,
            Err(e) => moved.warnings.push(format!(
                "tenant `{slug}` moved, but its schema and role on server `{}` could not be dropped ({e:#}): \
                 `botctl tenant move {slug} --to {}` drops them",
                source.name, target.name
            )),
        }
        Ok(moved)
    }

    /// Prepare the target, stop the bot, snapshot, load, verify, switch: everything up to the switch's
    /// commit, after which the tenant is the target's. `stopped_at` is set once the bot is stopped.
    async fn copy_and_switch(&self, moved: &mut Moved, stopped_at: &mut Option<Instant>) -> anyhow::Result<()> {
        let (servers, slug, source, target, id) = (self.servers, self.slug, &self.source, &self.target, self.id);
        let progress = self.progress;
        progress.set_message(&format!("preparing tenant {slug}'s role and schema on server {}", target.name));
        prepare(servers, target, slug, self.tenant.schema_version).await.context("preparing the target")?;

        let mut held = hold(servers, source, slug).await?;
        if let Containers::Engine(engine, _) = self.containers
            && self.was_running
        {
            progress.set_message(&format!("stopping tenant {slug}'s bot"));
            // The bot stops answering as soon as it is told to stop, not once the engine says it is gone:
            // the downtime counts from here (set only once the stop succeeded: a rollback restarts it).
            let stopping = Instant::now();
            engine.stop_container(&container_name(slug.as_str()), STOP_GRACE).await.context("stopping the bot")?;
            *stopped_at = Some(stopping);
        }
        journal::step(&mut *servers.control().acquire().await?, id, Step::Stopped).await?;

        progress.set_message(&format!("taking tenant {slug}'s snapshot"));
        let taken = tenant_backup::backup_one(servers, slug, &self.options.dest, &Keep::default())
            .await
            .context("taking the snapshot")?;
        let path = taken.path.context("the snapshot wrote no archive")?;
        journal::set_archive(&mut *servers.control().acquire().await?, id, &path.display().to_string()).await?;
        moved.archive = Some(path.clone());
        let archive = restore::open(&path).await.context("reading the snapshot back")?;

        progress.set_message(&format!("loading and verifying tenant {slug} on server {}", target.name));
        moved.tables = load_and_verify(target, slug, &archive).await?;
        moved.rows = moved.tables.iter().map(|t| t.rows).sum();
        journal::step(&mut *servers.control().acquire().await?, id, Step::Loaded).await?;

        progress.set_message(&format!("switching tenant {slug} to server {}", target.name));
        let tx = &mut held.control;
        store::set_server(tx, slug.as_str(), &target.name, migrate::tenant_latest()).await?;
        journal::step(tx, id, Step::Switched).await?;
        let details = json!({
            "from": source.name, "to": target.name, "archive": path, "rows": moved.rows,
            "tables": moved.tables.iter().map(|t| (t.table.clone(), t.rows.into())).collect::<serde_json::Map<_, _>>(),
        });
        store::record(tx, self.actor, Some(slug.as_str()), "tenant.move", details).await?;
        held.control.commit().await.context("switching the tenant's record")?;
        Ok(())
    }

    /// The move failed before the switch: rolls it back, journals and records how, and returns `error`
    /// with what became of the tenant.
    async fn undo(&self, error: anyhow::Error, moved: &Moved, stopped: bool) -> anyhow::Error {
        let (slug, source, target) = (self.slug, &self.source, &self.target);
        self.progress.set_message(&format!("rolling back: tenant {slug} stays on server {}", source.name));
        let undone = self.roll_back(stopped).await;
        let why = format!("{error:#}");
        let recorded = async {
            let mut conn = self.servers.control().acquire().await?;
            match &undone {
                Ok(()) => journal::finish(&mut conn, self.id, Step::RolledBack, Some(&why)).await?,
                // Left unfinished: the next `tenant move` of it rolls back what is left.
                Err(e) => journal::note_error(&mut conn, self.id, &format!("{why}; rolling back: {e:#}")).await?,
            }
            let details = json!({ "from": source.name, "to": target.name, "error": why, "archive": moved.archive });
            store::record(&mut conn, self.actor, Some(slug.as_str()), "tenant.move.failed", details).await?;
            anyhow::Ok(())
        };
        if let Err(e) = recorded.await {
            return e.context(format!("tenant `{slug}`'s move failed ({why}), and recording its rollback failed too"));
        }
        let kept = match &moved.archive {
            Some(path) => format!("; the archive it took is {}", path.display()),
            None => String::new(),
        };
        match undone {
            Ok(()) => error.context(format!(
                "tenant `{slug}` was not moved: it stays on server `{}`{}{kept}",
                source.name,
                if self.was_running { ", its bot running again" } else { "" }
            )),
            Err(e) => error.context(format!(
                "tenant `{slug}` was not moved and stays on server `{}`, but rolling back failed too ({e:#}): \
                 `botctl tenant move {slug} --to {}` finishes the rollback{kept}",
                source.name, target.name
            )),
        }
    }

    /// Undoes a move that failed before the switch: the target's role and schema dropped, the bot started
    /// again on the source (its stopped container still names it), if it was running and was `stopped`.
    async fn roll_back(&self, stopped: bool) -> anyhow::Result<()> {
        let dropped = drop_on(self.servers, &self.target, self.slug).await;
        if let (true, Containers::Engine(engine, options)) = (self.was_running && stopped, self.containers) {
            let tenant = runtime::find(self.servers, self.slug).await?;
            let image = tenant.image.clone().unwrap_or_else(|| options.image.clone());
            runtime::start_locked(self.servers, engine, self.slug, &tenant, &image, options, &NoProgress)
                .await
                .with_context(|| format!("starting the bot on server `{}` again", self.source.name))?;
        }
        dropped.with_context(|| format!("dropping the partial copy on server `{}`", self.target.name))
    }

    /// The bot did not get healthy on the target: the record switches back (the source schema is as the
    /// snapshot left it: nothing wrote to it since), the bot starts on the source, the target is dropped.
    async fn switch_back(&self, error: anyhow::Error) -> anyhow::Error {
        let (servers, slug, source, target) = (self.servers, self.slug, &self.source, &self.target);
        let why = format!("{error:#}");
        let back = async {
            let mut tx = servers.control().begin().await?;
            store::set_server(&mut tx, slug.as_str(), &source.name, self.tenant.schema_version).await?;
            journal::step(&mut tx, self.id, Step::SwitchingBack).await?;
            let details = json!({ "from": source.name, "to": target.name, "error": why, "switched_back": true });
            store::record(&mut tx, self.actor, Some(slug.as_str()), "tenant.move.failed", details).await?;
            tx.commit().await?;
            start_where_recorded(servers, self.containers, slug, true).await?;
            drop_on(servers, target, slug).await?;
            journal::finish(&mut *servers.control().acquire().await?, self.id, Step::RolledBack, Some(&why)).await?;
            anyhow::Ok(())
        };
        match back.await {
            Ok(()) => error.context(format!(
                "tenant `{slug}`'s bot did not become healthy on server `{}`, so the move was undone: it runs on \
                 server `{}` again",
                target.name, source.name
            )),
            Err(e) => error.context(format!(
                "tenant `{slug}`'s bot did not become healthy on server `{}`, and switching back to `{}` failed too \
                 ({e:#}): `botctl tenant move {slug} --to {}` finishes the switch back",
                target.name, source.name, target.name
            )),
        }
    }
}

/// The tenant's role and schema on `target`, migrated to `version` (the source's), committed while the
/// bot still runs. A role or schema of the tenant's name there is a leftover (of a create or a move
/// that failed): `ops::provision_on` drops it first.
async fn prepare(servers: &Servers, target: &Server, slug: &TenantSlug, version: i64) -> anyhow::Result<()> {
    let mut tx = Transactions::begin_on(servers, target).await?;
    ops::provision_on(&mut tx, target, slug).await?;
    provision::enter_schema(tx.tenant(), slug).await?;
    migrate::apply_until(tx.tenant(), &migrate::tenant_migrator(slug), Some(version)).await?;
    tx.commit().await?;
    Ok(())
}

/// Holds the tenant still: its control-plane row (`tenant update`, the platform's actions wait) and its
/// migration lock on the source.
async fn hold(servers: &Servers, source: &Server, slug: &TenantSlug) -> anyhow::Result<Held> {
    let mut migrations = source.pool.acquire().await?;
    // The lock belongs to the session: closed with it, never handed back to the pool held.
    migrations.close_on_drop();
    migrate::lock_tenant(&mut migrations, slug).await.context("taking the tenant's migration lock")?;
    let mut control = servers.control().begin().await?;
    sqlx::query("SELECT 1 FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL FOR NO KEY UPDATE")
        .bind(slug.as_str())
        .execute(&mut *control)
        .await?;
    Ok(Held { control, _migrations: migrations })
}

/// Loads the archive into the prepared schema on `target`, copies every table back out and compares
/// it with the archive's, then migrates it to this botctl's version: one transaction, committed only
/// when every table is equal.
async fn load_and_verify(target: &Server, slug: &TenantSlug, archive: &Archive) -> anyhow::Result<Vec<TableCopied>> {
    let mut tx = target.pool.begin().await?;
    provision::enter_schema(&mut tx, slug).await?;
    snapshot::pin_output(&mut tx).await?;
    restore::load(&mut tx, &slug.quoted_schema(), archive)
        .await
        .with_context(|| format!("loading the snapshot on server `{}`", target.name))?;
    let mut copied = Vec::new();
    for file in &archive.manifest.tables {
        let (rows, csv) = snapshot::copy_out(&mut tx, slug, &file.table).await?;
        let taken = &archive.tables[&file.table];
        if rows != file.rows {
            anyhow::bail!(
                "verifying the copy on server `{}`: table {} holds {rows} rows there, the snapshot {}",
                target.name,
                file.table,
                file.rows
            );
        }
        if !same_rows(&csv, taken) {
            let which = match differing_columns(&csv, taken).as_slice() {
                [] => String::new(),
                [one] => format!(" in column {one}"),
                many => format!(" in columns {}", many.join(", ")),
            };
            anyhow::bail!(
                "verifying the copy on server `{}`: the {rows} rows of table {} differ from the snapshot's{which}",
                target.name,
                file.table
            );
        }
        copied.push(TableCopied { table: file.table.clone(), rows });
    }
    migrate::apply(&mut tx, &migrate::tenant_migrator(slug)).await.context("migrating the copy")?;
    tx.commit().await.context("committing the copy")?;
    Ok(copied)
}

/// Whether two CSV copies of a table hold the same rows: the same bytes, or (a server may hand rows
/// back in another order) the same records in any order.
fn same_rows(a: &[u8], b: &[u8]) -> bool {
    if backup::sha256(a) == backup::sha256(b) {
        return true;
    }
    matches!((sorted_records(a), sorted_records(b)), (Some(x), Some(y)) if x == y)
}

/// A CSV copy's records, the header first and the rows sorted; `None` if it does not parse.
fn sorted_records(data: &[u8]) -> Option<Vec<csv::ByteRecord>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(data);
    let mut all: Vec<csv::ByteRecord> = reader.byte_records().collect::<Result<_, _>>().ok()?;
    if all.len() > 1 {
        all[1..].sort_by(|x, y| x.iter().cmp(y.iter()));
    }
    Some(all)
}

/// The columns (by the header of `a`) whose values differ between two CSV copies of a table, their rows
/// paired in sorted order: what a failed verify names. Never the values: they are customers' data.
fn differing_columns(a: &[u8], b: &[u8]) -> Vec<String> {
    let (Some(a), Some(b)) = (sorted_records(a), sorted_records(b)) else { return Vec::new() };
    let Some(header) = a.first() else { return Vec::new() };
    let mut differing = vec![false; header.len()];
    for (x, y) in a.iter().zip(&b).skip(1) {
        for (i, (u, v)) in x.iter().zip(y.iter()).enumerate() {
            if u != v && i < differing.len() {
                differing[i] = true;
            }
        }
    }
    header.iter().zip(differing).filter(|(_, d)| *d).map(|(h, _)| String::from_utf8_lossy(h).into_owned()).collect()
}

/// Starts the bot (if it was running) wherever the control plane now says the tenant is, after removing
/// its container, which names the other server; a stopped tenant's stopped container goes too, so the
/// next start makes it for this server. Returns whether the bot runs.
async fn start_where_recorded(
    servers: &Servers,
    containers: &Containers<'_>,
    slug: &TenantSlug,
    was_running: bool,
) -> anyhow::Result<bool> {
    let (engine, options) = match containers {
        Containers::Engine(engine, options) => (*engine, *options),
        // Refused before anything was touched if it was running.
        Containers::Unreachable(_) => return Ok(false),
    };
    engine.remove_container(&container_name(slug.as_str())).await?;
    if !was_running {
        return Ok(false);
    }
    let tenant = runtime::find(servers, slug).await?;
    let image = tenant.image.clone().unwrap_or_else(|| options.image.clone());
    runtime::start_locked(servers, engine, slug, &tenant, &image, options, &NoProgress).await?;
    Ok(true)
}

/// Drops the tenant's schemas and role on `server` (no live tenant of that name is there any more).
async fn drop_on(servers: &Servers, server: &Server, slug: &TenantSlug) -> anyhow::Result<()> {
    let live = store::live_beside(&mut *servers.control().acquire().await?, slug.as_str(), &server.name).await?;
    provision::drop_tenant(&mut *server.pool.acquire().await?, slug, &live).await?;
    Ok(())
}

/// Finishes (the record had switched) or rolls back (it had not) a move a crash interrupted.
async fn recover(
    servers: &Servers,
    containers: &Containers<'_>,
    slug: &TenantSlug,
    unfinished: Unfinished,
    actor: &str,
) -> anyhow::Result<Recovered> {
    let tenant = runtime::find(servers, slug).await?;
    let switched = tenant.server == unfinished.target;
    let running = match containers {
        Containers::Engine(engine, _) => {
            engine.container(&container_name(slug.as_str())).await?.is_some_and(|c| c.status == "running")
        }
        Containers::Unreachable(why) if unfinished.was_running => {
            anyhow::bail!("tenant `{slug}`'s interrupted move needs the Docker engine to start its bot: {why}")
        }
        Containers::Unreachable(_) => false,
    };
    let (gone, outcome) =
        if switched { (&unfinished.source, Step::Done) } else { (&unfinished.target, Step::RolledBack) };
    // A bot that runs was started where the record says before the crash; one that does not, starts now.
    if !running {
        start_where_recorded(servers, containers, slug, unfinished.was_running).await?;
    }
    drop_on(servers, &servers.get(gone).await?, slug).await?;
    let error = format!("interrupted at step {}; finished by a later `tenant move`", unfinished.step.as_str());
    let mut conn = servers.control().acquire().await?;
    journal::finish(&mut conn, unfinished.id, outcome, (!switched).then_some(error.as_str())).await?;
    let details = json!({
        "from": unfinished.source, "to": unfinished.target, "step": unfinished.step, "outcome": outcome,
        "archive": unfinished.archive,
    });
    store::record(&mut conn, actor, Some(slug.as_str()), "tenant.move.recovered", details).await?;
    Ok(Recovered { from: unfinished.source, to: unfinished.target, step: unfinished.step, outcome })
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One tenant's row of a drain.
#[derive(Debug, Clone, Serialize)]
pub struct DrainedTenant {
    pub tenant: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<Moved>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrainReport {
    pub from: String,
    pub tenants: Vec<DrainedTenant>,
}

impl DrainReport {
    pub fn failed(&self) -> usize {
        self.tenants.iter().filter(|t| t.error.is_some()).count()
    }
}

/// Empties server `from`: marks it draining (so placement stops choosing it) and moves each of its
/// tenants, `options.jobs` at a time, to `options.to` or where placement puts a new tenant. One
/// tenant's failure does not stop the others; each row says what happened.
pub async fn drain(
    servers: &Servers,
    containers: &Containers<'_>,
    from: &ServerName,
    options: &MoveOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<DrainReport> {
    let slugs = {
        let mut conn = servers.control().acquire().await?;
        servers::record(&mut conn, from.as_str())
            .await?
            .ok_or_else(|| BadInput::new(format!("no server `{from}` (see `botctl server list`)")))?;
        if options.to.as_ref() == Some(from) {
            return Err(BadInput::new(format!("--to names the server being drained, `{from}`")).into());
        }
        if let Some(to) = &options.to {
            servers::record(&mut conn, to.as_str())
                .await?
                .ok_or_else(|| BadInput::new(format!("no server `{to}` (see `botctl server list`)")))?;
        }
        tenants_on(&mut conn, from.as_str()).await?
    };
    // As `server drain` does: placement stops choosing it, so no tenant is put back there meanwhile.
    super::servers::drain(servers, from, false, actor).await?;
    progress.set_message(&format!("moving tenants off server {from}"));
    let mut tenants: Vec<DrainedTenant> = ops::each(&slugs, options.jobs, progress, |slug| async move {
        let mut row = DrainedTenant { tenant: slug.to_string(), to: None, moved: None, error: None };
        let done = async {
            let to = match &options.to {
                Some(to) => to.clone(),
                None => pick(servers).await?,
            };
            row.to = Some(to.to_string());
            let one = MoveOptions { to: Some(to), ..options.clone() };
            move_tenant(servers, containers, slug, &one, actor, &NoProgress).await
        };
        match done.await {
            Ok(moved) => row.moved = Some(moved),
            Err(e) => row.error = Some(format!("{e:#}")),
        }
        row
    })
    .await;
    tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(DrainReport { from: from.to_string(), tenants })
}

/// Where placement would put a new tenant now (never a draining server).
async fn pick(servers: &Servers) -> anyhow::Result<ServerName> {
    let mut tx = servers.control().begin().await?;
    let name = servers::place(&mut tx, None).await?;
    tx.commit().await?;
    Ok(name.parse()?)
}

/// The live tenants recorded on `server`, by name.
async fn tenants_on(conn: &mut PgConnection, server: &str) -> anyhow::Result<Vec<TenantSlug>> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT slug FROM botctl.tenants WHERE server = $1 AND deleted_at IS NULL ORDER BY slug")
            .bind(server)
            .fetch_all(conn)
            .await?;
    Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_compare_equal_in_any_order_but_not_otherwise() {
        let a = b"id,name\n1,\"a, b\"\n2,\"multi\nline\"\n";
        let b = b"id,name\n2,\"multi\nline\"\n1,\"a, b\"\n";
        assert!(same_rows(a, a));
        assert!(same_rows(a, b));
        assert!(!same_rows(a, b"id,name\n1,\"a, b\"\n2,\"multi line\"\n"));
        assert!(!same_rows(a, b"name,id\n2,\"multi\nline\"\n1,\"a, b\"\n"));
        assert!(!same_rows(a, b"id,name\n1,\"a, b\"\n"));
    }

    #[test]
    fn a_failed_verify_names_the_columns_that_differ_but_no_value() {
        let a = b"id,name,phone\n1,Anna,+7900\n2,Boris,+7901\n";
        let b = b"id,name,phone\n2,Boris,+7901\n1,Anna (changed),+7900\n";
        assert_eq!(differing_columns(a, b), ["name"]);
        assert_eq!(differing_columns(a, b"id,name,phone\n1,Anna,+1\n2,Boris,+2\n"), ["phone"]);
        assert!(differing_columns(a, a).is_empty());
    }
}
