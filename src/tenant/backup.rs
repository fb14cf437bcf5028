//! `botctl backup` and `backup verify`: each tenant's schema as of one instant into an archive under
//! `DEST/<tenant>/`, recorded in the control plane, older archives pruned only after the new one is
//! safe; and archives checked against what they and the control plane say.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::TenantSlug;
use super::ops::{self, Routes, Targets};
use super::store::{self, BackupRecord};
use crate::backup::{self, Keep, Manifest};
use crate::db::servers::{Server, Servers};
use crate::db::snapshot;
use crate::progress::Progress;

pub struct BackupOptions {
    pub targets: Targets,
    /// Archives go to `dest/<tenant>/`.
    pub dest: PathBuf,
    pub keep: Keep,
    /// How many tenants at once on each server; each server's pool must allow as many connections.
    pub jobs: usize,
}

/// One tenant's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TenantBackedUp {
    pub tenant: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    pub size_bytes: u64,
    pub rows: u64,
    pub tables: usize,
    /// Older archives retention deleted after this one was safe.
    pub pruned: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub dest: PathBuf,
    pub tenants: Vec<TenantBackedUp>,
}

impl BackupReport {
    pub fn failed(&self) -> usize {
        self.tenants.iter().filter(|t| t.error.is_some()).count()
    }
}

/// Backs up the targeted tenants, `jobs` at a time on each server; one tenant's failure does not stop the
/// others.
pub async fn backup(
    servers: &Servers,
    options: &BackupOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<BackupReport> {
    let slugs = options.targets.resolve(servers).await?;
    progress.set_message("backing up tenants");
    let routes = &Routes::new(servers, &slugs).await?;
    let server_of = |slug: &TenantSlug| routes.server_name(slug);
    let mut tenants: Vec<TenantBackedUp> =
        ops::each_per_server(&slugs, server_of, options.jobs, progress, |slug| async move {
            let taken = match routes.server(slug) {
                Ok(server) => backup_on(servers, server, slug, &options.dest, &options.keep).await,
                Err(why) => Err(anyhow::anyhow!(why)),
            };
            taken.unwrap_or_else(|e| failed(slug, &e))
        })
        .await;
    tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let report = BackupReport { dest: options.dest.clone(), tenants };
    record(servers, actor, &report).await?;
    Ok(report)
}

/// One tenant's backup as `backup` takes it, event included: for a caller with one tenant in hand (the
/// operator bot), without the fleet's concurrency.
pub async fn backup_tenant(
    servers: &Servers,
    slug: &TenantSlug,
    dest: &Path,
    keep: &Keep,
    actor: &str,
) -> anyhow::Result<TenantBackedUp> {
    ops::show(servers, slug).await?;
    let taken = backup_one(servers, slug, dest, keep).await.unwrap_or_else(|e| failed(slug, &e));
    let report = BackupReport { dest: dest.to_path_buf(), tenants: vec![taken] };
    record(servers, actor, &report).await?;
    Ok(report.tenants.into_iter().next().unwrap_or_else(|| failed(slug, &anyhow::anyhow!("no outcome"))))
}

fn failed(slug: &TenantSlug, error: &anyhow::Error) -> TenantBackedUp {
    TenantBackedUp {
        tenant: slug.to_string(),
        path: None,
        size_bytes: 0,
        rows: 0,
        tables: 0,
        pruned: Vec::new(),
        error: Some(format!("{error:#}")),
    }
}

/// The operator event of a backup run: who was backed up and who failed.
async fn record(servers: &Servers, actor: &str, report: &BackupReport) -> anyhow::Result<()> {
    let details = json!({
        "dest": report.dest,
        "backed_up": report.tenants.iter().filter(|t| t.error.is_none()).map(|t| &t.tenant).collect::<Vec<_>>(),
        "failed": report.tenants.iter().filter(|t| t.error.is_some()).map(|t| &t.tenant).collect::<Vec<_>>(),
        "errors": report.tenants.iter().filter_map(|t| Some((t.tenant.clone(), t.error.clone()?.into()))).collect::<serde_json::Map<_, _>>(),
    });
    store::record(&mut *servers.control().acquire().await?, actor, None, "backup", details).await?;
    Ok(())
}

/// One tenant: the snapshot (on its server), the archive, its record, then retention. A table another
/// session holds for longer than the pool's lock timeout fails it, named.
pub async fn backup_one(
    servers: &Servers,
    slug: &TenantSlug,
    dest: &Path,
    keep: &Keep,
) -> anyhow::Result<TenantBackedUp> {
    let server = servers.of_tenant(slug.as_str()).await?;
    backup_on(servers, &server, slug, dest, keep).await
}

/// [`backup_one`] of a tenant on `server`.
async fn backup_on(
    servers: &Servers,
    server: &Server,
    slug: &TenantSlug,
    dest: &Path,
    keep: &Keep,
) -> anyhow::Result<TenantBackedUp> {
    ops::explaining_locks(servers, slug, snapshot_and_write(servers, server, slug, dest, keep)).await
}

async fn snapshot_and_write(
    servers: &Servers,
    server: &Server,
    slug: &TenantSlug,
    dest: &Path,
    keep: &Keep,
) -> anyhow::Result<TenantBackedUp> {
    let tenant = ops::show(servers, slug).await?;
    let mut tx = snapshot::begin(&server.pool).await?;
    // The snapshot's instant: the transaction's start, which every table is read as of.
    let created_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut *tx).await?;
    let schema_version = snapshot::schema_version(&mut tx, slug).await?;
    let mut tables = Vec::new();
    for table in snapshot::tables(&mut tx, slug).await? {
        let (rows, csv) = snapshot::copy_out(&mut tx, slug, &table).await?;
        tables.push((table, rows, csv));
    }
    tx.rollback().await?;
    let manifest = Manifest {
        format: backup::FORMAT,
        tenant: slug.to_string(),
        display_name: tenant.display_name,
        schema_version,
        botctl_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at,
        tables: Vec::new(),
    };
    let rows = tables.iter().map(|(_, rows, _)| rows).sum();
    let count = tables.len();
    let dir = dest.join(slug.as_str());
    let name = backup::archive_name(slug.as_str(), created_at);
    let written = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || backup::write(&dir, &name, manifest, tables)).await?
    }
    .map_err(|e| anyhow::anyhow!("cannot write the archive in {}: {e}", dir.display()))?;
    // Recorded absolute, so that `backup verify` finds the record from wherever it runs.
    let path = std::fs::canonicalize(&written.path)?;
    let record = BackupRecord {
        tenant: slug.to_string(),
        path: path.display().to_string(),
        size_bytes: i64::try_from(written.size).unwrap_or(i64::MAX),
        sha256: written.sha256.clone(),
        schema_version,
        rows: i64::try_from(rows).unwrap_or(i64::MAX),
        created_at,
    };
    let mut conn = servers.control().acquire().await?;
    store::record_backup(&mut conn, &record).await?;
    let stored = backup::list(&dir, slug.as_str())?;
    let mut pruned = Vec::new();
    for old in backup::prune(&stored, keep, Utc::now()) {
        let old = std::fs::canonicalize(&old.path).unwrap_or_else(|_| old.path.clone());
        std::fs::remove_file(&old).map_err(|e| anyhow::anyhow!("cannot prune {}: {e}", old.display()))?;
        store::mark_pruned(&mut conn, &old.display().to_string()).await?;
        pruned.push(old);
    }
    Ok(TenantBackedUp {
        tenant: slug.to_string(),
        path: Some(path),
        size_bytes: written.size,
        rows,
        tables: count,
        pruned,
        error: None,
    })
}

/// What checking one archive found.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    pub rows: u64,
    pub tables: usize,
    /// Whether the control plane knows this file (and so checked its sha256 too).
    pub recorded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Checks an archive's structure and every checksum in it, and its own sha256 against the control
/// plane's record when there is one; `deep` also loads it into a scratch schema (see
/// [`super::restore::load_and_discard`]).
pub async fn verify(servers: &Servers, path: &Path, deep: bool) -> Verified {
    let mut verified = Verified {
        path: path.to_path_buf(),
        tenant: None,
        created_at: None,
        schema_version: None,
        rows: 0,
        tables: 0,
        recorded: false,
        error: None,
    };
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || backup::read(&owned)).await;
    let archive = match read {
        Ok(Ok(archive)) => archive,
        Ok(Err(e)) => {
            verified.error = Some(e.to_string());
            return verified;
        }
        Err(e) => {
            verified.error = Some(format!("{}: {e}", path.display()));
            return verified;
        }
    };
    let manifest = &archive.manifest;
    verified.tenant = Some(manifest.tenant.clone());
    verified.created_at = Some(manifest.created_at);
    verified.schema_version = Some(manifest.schema_version);
    verified.rows = manifest.rows();
    verified.tables = manifest.tables.len();
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let record = match servers.control().acquire().await {
        Ok(mut conn) => store::backup_at(&mut conn, &absolute.display().to_string()).await,
        Err(e) => Err(e),
    };
    match record {
        Ok(Some(record)) => {
            verified.recorded = true;
            if record.sha256 != archive.sha256 {
                verified.error = Some(format!(
                    "{}: archive checksum failed: the file's sha256 is not the one recorded when it was written",
                    path.display()
                ));
            }
        }
        Ok(None) => {}
        Err(e) => verified.error = Some(format!("cannot read the control plane's record: {e}")),
    }
    if deep && verified.error.is_none() {
        let loaded = async {
            super::restore::supported(&archive, path)?;
            super::restore::load_and_discard(servers, &archive).await
        };
        if let Err(e) = loaded.await {
            verified.error = Some(format!("{}: loading it into a scratch schema failed: {e:#}", path.display()));
        }
    }
    verified
}
