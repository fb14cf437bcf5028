//! Forward-only SQL migrations with a ledger inside the schema they build (sqlx's migrator).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgConnection;
use sqlx::migrate::Migrator;

use crate::tenant::TenantSlug;

/// One migration, as reported to the operator.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MigrationInfo {
    pub version: i64,
    pub description: String,
}

/// Where a schema stands relative to the migrations compiled into this binary.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatus {
    /// The highest applied version; `None` when nothing is applied yet.
    pub current: Option<i64>,
    /// The highest version this binary knows.
    pub latest: i64,
    pub pending: Vec<MigrationInfo>,
    /// Applied versions this binary does not know: the schema was migrated by a newer botctl.
    pub unknown: Vec<i64>,
}

impl MigrationStatus {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }
}

fn known(migrator: &Migrator) -> BTreeMap<i64, String> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

/// Reads the ledger without creating anything, so it is safe on a database botctl has never touched.
pub async fn status(conn: &mut PgConnection, migrator: &Migrator) -> Result<MigrationStatus, sqlx::Error> {
    let table = migrator.table_name.as_ref();
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(&mut *conn).await?;
    let applied: Vec<i64> = if exists {
        // The table name is a compile-time constant of this crate, never input.
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT version FROM {table} WHERE success ORDER BY version")))
            .fetch_all(&mut *conn)
            .await?
    } else {
        Vec::new()
    };
    let known = known(migrator);
    Ok(MigrationStatus {
        current: applied.last().copied(),
        latest: known.keys().next_back().copied().unwrap_or(0),
        pending: known
            .iter()
            .filter(|(v, _)| !applied.contains(v))
            .map(|(v, d)| MigrationInfo { version: *v, description: d.clone() })
            .collect(),
        unknown: applied.iter().copied().filter(|v| !known.contains_key(v)).collect(),
    })
}

/// Applies what is pending, each migration in its own transaction, and returns what it applied.
pub async fn apply(conn: &mut PgConnection, migrator: &Migrator) -> anyhow::Result<Vec<MigrationInfo>> {
    apply_until(conn, migrator, None).await
}

/// The same, up to version `target` when given.
pub async fn apply_until(
    conn: &mut PgConnection,
    migrator: &Migrator,
    target: Option<i64>,
) -> anyhow::Result<Vec<MigrationInfo>> {
    let before = status(conn, migrator).await?;
    if !before.unknown.is_empty() {
        anyhow::bail!(
            "the schema has migrations {:?} that this botctl ({}) does not know; upgrade botctl",
            before.unknown,
            env!("CARGO_PKG_VERSION")
        );
    }
    for migration in &before.pending {
        tracing::info!(table = %migrator.table_name, version = migration.version, description = %migration.description, "applying migration");
    }
    migrator.run_direct(target, conn, false).await?;
    Ok(before.pending.into_iter().filter(|m| target.is_none_or(|t| m.version <= t)).collect())
}

/// The tenant-schema migrations, with the ledger inside the tenant's own schema. sqlx's lock covers the
/// whole database; tenants take their own lock instead (see [`migrate_tenant`]), so many can migrate at once.
pub fn tenant_migrator(slug: &TenantSlug) -> Migrator {
    tenant_migrator_in(&slug.quoted_schema())
}

/// The tenant-schema migrations for schema `schema` (quoted), such as one a restore builds.
pub fn tenant_migrator_in(schema: &str) -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/tenant");
    migrator.table_name = Cow::Owned(format!("{schema}._sqlx_migrations"));
    migrator.locking = false;
    migrator
}

/// The newest tenant-schema version this binary knows.
pub fn tenant_latest() -> i64 {
    sqlx::migrate!("migrations/tenant").iter().map(|m| m.version).max().unwrap_or(0)
}

/// Advisory-lock class for per-tenant migration locks (the bytes "botc"), so keys cannot meet other users'.
const TENANT_LOCK_CLASS: i32 = 0x626f_7463;

/// What migrating one tenant found and did.
#[derive(Debug, Clone, Serialize)]
pub struct TenantMigration {
    pub before: MigrationStatus,
    pub applied: Vec<MigrationInfo>,
}

/// Migrates one tenant's schema under its own advisory lock, on a session connection (not through
/// PgBouncer's transaction mode, where session locks and `SET` do not hold). With `dry_run` it only
/// reports what is pending.
pub async fn migrate_tenant(
    conn: &mut PgConnection,
    slug: &TenantSlug,
    dry_run: bool,
) -> anyhow::Result<TenantMigration> {
    lock_tenant(conn, slug).await?;
    let result = migrate_locked(conn, slug, dry_run).await;
    // Unlock and reset even after a failure: the connection may go back to a pool.
    let cleanup = async {
        sqlx::query("RESET search_path").execute(&mut *conn).await?;
        unlock_tenant(conn, slug).await
    };
    let cleaned = cleanup.await;
    let migration = result?;
    cleaned?;
    Ok(migration)
}

/// Waits for the tenant's migration lock and holds it for the session of `conn`: no migration of this
/// tenant runs until [`unlock_tenant`] or the session ends.
pub async fn lock_tenant(conn: &mut PgConnection, slug: &TenantSlug) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
        .bind(TENANT_LOCK_CLASS)
        .bind(slug.schema())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn unlock_tenant(conn: &mut PgConnection, slug: &TenantSlug) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
        .bind(TENANT_LOCK_CLASS)
        .bind(slug.schema())
        .execute(conn)
        .await?;
    Ok(())
}

async fn migrate_locked(conn: &mut PgConnection, slug: &TenantSlug, dry_run: bool) -> anyhow::Result<TenantMigration> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {}", slug.quoted_schema())))
        .execute(&mut *conn)
        .await?;
    let migrator = tenant_migrator(slug);
    let before = status(conn, &migrator).await?;
    let applied = if dry_run { Vec::new() } else { apply(conn, &migrator).await? };
    Ok(TenantMigration { before, applied })
}
