use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use super::fleet::FleetArgs;
use crate::backup::{self, Keep, Stored};
use crate::error::{BadInput, SomeFailed};
use crate::tenant::backup::{self as tenant_backup, BackupOptions, BackupReport, Verified};
use crate::ui::{Render, Table};

/// Backs up tenants: each one's schema, as of one instant, into DEST/<tenant>/<tenant>-<UTC time>.tar.zst.
///
/// Each table is PostgreSQL's CSV with a header; a manifest holds the row count and sha256 of each
/// file. An archive is written under a temporary name, synced and then renamed, so a crash never
/// leaves a file that looks complete; archives and their directories are owner-only. Older archives
/// are pruned (--keep, --keep-days) only after the new one is written and recorded. For cron: one
/// tenant's failure does not stop the others, the exit code is then 1 with the reasons, and `-q`
/// prints nothing when all went well.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    #[command(flatten)]
    fleet: FleetArgs,
    #[command(flatten)]
    dest: DestArgs,
    #[command(flatten)]
    lock: LockTimeoutArgs,
    /// Keeps each tenant's newest N archives (at least 1) and deletes older ones.
    #[arg(long, value_name = "N", value_parser = keep_count)]
    keep: Option<usize>,
    /// Keeps each tenant's archives younger than D days (with --keep, an archive either keeps stays).
    #[arg(long, value_name = "D")]
    keep_days: Option<u32>,
}

/// Where the archives are.
#[derive(Debug, Args)]
pub struct DestArgs {
    /// The backup directory, holding one directory per tenant [default: backup.dir].
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,
}

impl DestArgs {
    pub(super) fn dir(&self, ctx: &Context) -> PathBuf {
        self.dest.clone().unwrap_or_else(|| ctx.settings.backup.dir.clone())
    }
}

/// How long a command waits for a tenant's table that another session holds.
#[derive(Debug, Args)]
pub struct LockTimeoutArgs {
    /// Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s,
    /// 2m) [default: backup.lock_timeout].
    #[arg(long, value_name = "DURATION", value_parser = lock_timeout)]
    lock_timeout: Option<Duration>,
}

impl LockTimeoutArgs {
    pub(super) fn get(&self, ctx: &Context) -> Duration {
        self.lock_timeout.unwrap_or(ctx.settings.backup.lock_timeout)
    }
}

fn lock_timeout(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("a lock timeout of 0 would wait forever; give a duration such as 30s".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("invalid duration `{s}`: {e}")),
    }
}

/// `--keep 0` cannot mean anything but every archive gone, the new one too.
fn keep_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("keeping 0 archives would delete the one just written; keep at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number of archives: {e}")),
    }
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    List(ListArgs),
    Verify(VerifyArgs),
}

/// Lists the archives in the backup directory, newest first.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this tenant's archives.
    name: Option<String>,
    #[command(flatten)]
    dest: DestArgs,
}

/// Checks archives: that each is a complete archive, that its manifest and every table match their
/// sha256 and row counts, and that the file is the one the control plane recorded when it was written.
///
/// With --deep, each is also loaded into a scratch schema beside its tenant's (migrated forward as a
/// restore would), its row counts compared, and the scratch schema dropped. Exits with 1 when any
/// archive fails, naming the file and the check.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The archives to check.
    #[arg(value_name = "FILE", required_unless_present = "all", conflicts_with = "all")]
    files: Vec<PathBuf>,
    /// Checks every archive in the backup directory.
    #[arg(long)]
    all: bool,
    /// Also loads each archive into a scratch schema and drops it again.
    #[arg(long)]
    deep: bool,
    #[command(flatten)]
    dest: DestArgs,
}

struct Report(BackupReport);

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Render for Report {
    fn render(&self) -> String {
        let mut table = Table::new(["tenant", "archive", "size", "tables", "rows", "pruned", "result"]);
        for t in &self.0.tenants {
            table.row([
                t.tenant.clone(),
                t.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                size(t.size_bytes),
                t.tables.to_string(),
                t.rows.to_string(),
                t.pruned.len().to_string(),
                t.error.as_ref().map_or_else(|| "backed up".to_string(), |e| format!("failed: {e}")),
            ]);
        }
        table.to_string()
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

pub async fn exec(args: BackupArgs, ctx: &Context) -> anyhow::Result<()> {
    match args.command {
        Some(BackupCommand::List(list)) => return self::list(list, ctx),
        Some(BackupCommand::Verify(verify)) => return self::verify(verify, ctx).await,
        None => {}
    }
    let options = BackupOptions {
        targets: args.fleet.targets()?,
        dest: args.dest.dir(ctx),
        keep: Keep { last: args.keep, within: args.keep_days.map(|d| chrono::TimeDelta::days(i64::from(d))) },
        jobs: usize::from(args.fleet.jobs),
    };
    let database = ctx.connect_locking(u32::from(args.fleet.jobs) + 1, Some(args.lock.get(ctx))).await?;
    let report = {
        let bar = ctx.ui.bar("backing up tenants");
        tenant_backup::backup(&database.servers, &options, &ctx.actor(), &bar).await?
    };
    let (failed, total) = (report.failed(), report.tenants.len());
    if failed > 0 || !ctx.ui.quiet() {
        ctx.ui.data(&Report(report))?;
    }
    if failed > 0 {
        return Err(SomeFailed { failed, total, what: "tenant backups" }.into());
    }
    Ok(())
}

#[derive(Serialize)]
struct Listed {
    tenant: String,
    #[serde(flatten)]
    stored: Stored,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Archives(Vec<Listed>);

impl Render for Archives {
    fn render(&self) -> String {
        let mut table = Table::new(["tenant", "created", "size", "archive"]);
        for a in &self.0 {
            table.row([
                a.tenant.clone(),
                a.stored.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                size(a.stored.size),
                a.stored.path.display().to_string(),
            ]);
        }
        table.to_string()
    }
}

/// Every archive under `dir`, tenant by tenant (or of `name` only), newest first.
fn archives(dir: &std::path::Path, name: Option<&str>) -> anyhow::Result<Vec<Listed>> {
    let names: Vec<String> = match name {
        Some(name) => vec![super::tenant::slug(name)?.to_string()],
        None => match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", dir.display())),
        },
    };
    let mut listed = Vec::new();
    for tenant in names {
        let stored = backup::list(&dir.join(&tenant), &tenant)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.join(&tenant).display()))?;
        listed.extend(stored.into_iter().map(|stored| Listed { tenant: tenant.clone(), stored }));
    }
    Ok(listed)
}

fn list(args: ListArgs, ctx: &Context) -> anyhow::Result<()> {
    ctx.ui.data(&Archives(archives(&args.dest.dir(ctx), args.name.as_deref())?))
}

#[derive(Serialize)]
#[serde(transparent)]
struct Checked(Vec<Verified>);

impl Render for Checked {
    fn render(&self) -> String {
        let mut table = Table::new(["archive", "tenant", "schema", "tables", "rows", "result"]);
        for v in &self.0 {
            table.row([
                v.path.display().to_string(),
                v.tenant.clone().unwrap_or_default(),
                v.schema_version.map(|s| s.to_string()).unwrap_or_default(),
                v.tables.to_string(),
                v.rows.to_string(),
                match (&v.error, v.recorded) {
                    (Some(e), _) => format!("failed: {e}"),
                    (None, true) => "ok (matches its record)".to_string(),
                    (None, false) => "ok (not recorded here)".to_string(),
                },
            ]);
        }
        table.to_string()
    }
}

async fn verify(args: VerifyArgs, ctx: &Context) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = if args.all {
        archives(&args.dest.dir(ctx), None)?.into_iter().map(|l| l.stored.path).collect()
    } else {
        args.files
    };
    if files.is_empty() {
        return Err(BadInput::new(format!("no archives in {}", args.dest.dir(ctx).display())).into());
    }
    let database = ctx.connect().await?;
    let mut checked = Vec::new();
    for file in &files {
        checked.push(tenant_backup::verify(&database.servers, file, args.deep).await);
    }
    let failed = checked.iter().filter(|v| v.error.is_some()).count();
    if failed > 0 || !ctx.ui.quiet() {
        ctx.ui.data(&Checked(checked))?;
    }
    if failed > 0 {
        return Err(SomeFailed { failed, total: files.len(), what: "archives" }.into());
    }
    Ok(())
}
