//! Forward-only SQL migrations with a ledger inside the schema they build (sqlx's migrator).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::migrate::{MigrateError, Migration, Migrator};
use sqlx::{Connection as _, PgConnection, Row as _};

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
    Ok(Ledger::read(conn, migrator).await?.status(migrator))
}

/// A schema's `_sqlx_migrations` as read once: whether it exists and each row, for both the status and
/// the checks sqlx's migrator makes before it applies anything.
struct Ledger {
    exists: bool,
    /// (version, checksum, success), by version.
    rows: Vec<(i64, Vec<u8>, bool)>,
}

impl Ledger {
    async fn read(conn: &mut PgConnection, migrator: &Migrator) -> Result<Self, sqlx::Error> {
        let table = migrator.table_name.as_ref();
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(&mut *conn).await?;
        if !exists {
            return Ok(Self { exists, rows: Vec::new() });
        }
        // A simple query: the table's name is each tenant's own, so a prepared statement would be parsed
        // and described for one use only, and crowd the connection's statement cache. The name is a
        // constant of this crate or built from a validated slug, never input.
        let sql = format!("SELECT version, checksum, success FROM {table} ORDER BY version");
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Self { exists, rows })
    }

    fn status(&self, migrator: &Migrator) -> MigrationStatus {
        let applied: Vec<i64> = self.rows.iter().filter(|(_, _, success)| *success).map(|(v, _, _)| *v).collect();
        let known = known(migrator);
        MigrationStatus {
            current: applied.last().copied(),
            latest: known.keys().next_back().copied().unwrap_or(0),
            pending: known
                .iter()
                .filter(|(v, _)| !applied.contains(v))
                .map(|(v, d)| MigrationInfo { version: *v, description: d.clone() })
                .collect(),
            unknown: applied.iter().copied().filter(|v| !known.contains_key(v)).collect(),
        }
    }
}

/// Applies what is pending, each migration in its own transaction (or, on a connection already in a
/// transaction, all of them in that one), and returns what it applied.
pub async fn apply(conn: &mut PgConnection, migrator: &Migrator) -> anyhow::Result<Vec<MigrationInfo>> {
    apply_until(conn, migrator, None).await
}

/// The same, up to version `target` when given.
pub async fn apply_until(
    conn: &mut PgConnection,
    migrator: &Migrator,
    target: Option<i64>,
) -> anyhow::Result<Vec<MigrationInfo>> {
    let ledger = Ledger::read(conn, migrator).await?;
    apply_read(conn, migrator, &ledger, target).await
}

/// [`apply_until`] with the ledger already read (on `conn`, since nothing changed it).
async fn apply_read(
    conn: &mut PgConnection,
    migrator: &Migrator,
    ledger: &Ledger,
    target: Option<i64>,
) -> anyhow::Result<Vec<MigrationInfo>> {
    let before = ledger.status(migrator);
    if !before.unknown.is_empty() {
        anyhow::bail!(
            "the schema has migrations {:?} that this botctl ({}) does not know; upgrade botctl",
            before.unknown,
            env!("CARGO_PKG_VERSION")
        );
    }
    let pending: Vec<&Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| target.is_none_or(|t| m.version <= t))
        .filter(|m| !ledger.rows.iter().any(|(v, _, _)| *v == m.version))
        .collect();
    for migration in &pending {
        tracing::info!(table = %migrator.table_name, version = migration.version, description = %migration.description, "applying migration");
    }
    // The control plane's migrator takes sqlx's database-wide lock, and a migration that must run
    // outside a transaction cannot join the others: sqlx's own runner for those.
    if migrator.locking || pending.iter().any(|m| m.no_tx) {
        migrator.run_direct(target, conn, false).await?;
    } else {
        check(migrator, ledger)?;
        run_batched(conn, migrator.table_name.as_ref(), !ledger.exists, &pending).await?;
    }
    Ok(before.pending.into_iter().filter(|m| target.is_none_or(|t| m.version <= t)).collect())
}

/// What sqlx's migrator refuses before it applies anything, refused the same way: a migration that
/// failed halfway (`success` false), and an applied one whose file changed since.
fn check(migrator: &Migrator, ledger: &Ledger) -> Result<(), MigrateError> {
    if let Some((version, _, _)) = ledger.rows.iter().find(|(_, _, success)| !success) {
        return Err(MigrateError::Dirty(*version));
    }
    for (version, checksum, _) in &ledger.rows {
        let known = migrator.iter().find(|m| m.version == *version && !m.migration_type.is_down_migration());
        if known.is_some_and(|m| *m.checksum != **checksum) {
            return Err(MigrateError::VersionMismatch(*version));
        }
    }
    Ok(())
}

/// Applies `pending` in ONE round trip: one simple query holding every migration's SQL and its ledger
/// row (the same row sqlx's migrator writes: version, description, checksum, its execution time in
/// nanoseconds, measured by the server). sqlx's own runner takes five round trips a migration (a
/// transaction, the script, the row, the commit, the time), and prepares its ledger statements afresh
/// for every tenant, since each names its own table: most of a new tenant's migration time.
///
/// Each migration is still its own transaction (`BEGIN` … `COMMIT` inside the query) or, inside the
/// caller's transaction, its own savepoint, as with sqlx's runner: a failing one is rolled back and
/// those before it stay applied.
async fn run_batched(
    conn: &mut PgConnection,
    table: &str,
    create_ledger: bool,
    pending: &[&Migration],
) -> anyhow::Result<()> {
    if pending.is_empty() && !create_ledger {
        return Ok(());
    }
    let nested = conn.is_in_transaction();
    let (begin, end) = if nested {
        ("SAVEPOINT botctl_migrate;\n", "RELEASE SAVEPOINT botctl_migrate;\n")
    } else {
        ("BEGIN;\n", "COMMIT;\n")
    };
    let mut sql = String::new();
    if create_ledger {
        // sqlx's own definition, so that its migrator and this one read and write the same ledger.
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, \
             execution_time BIGINT NOT NULL);\n"
        ));
    }
    for migration in pending {
        sql.push_str(begin);
        sql.push_str("SELECT set_config('botctl.migration_started', clock_timestamp()::text, true);\n");
        sql.push_str(migration.sql.as_str());
        // A last line that is a comment must not swallow what follows.
        sql.push_str("\n;\n");
        sql.push_str(&format!(
            "INSERT INTO {table} (version, description, success, checksum, execution_time) VALUES ({}, {}, TRUE, \
             decode('{}', 'hex'), (extract(epoch FROM clock_timestamp() - \
             current_setting('botctl.migration_started')::timestamptz) * 1e9)::bigint);\n",
            migration.version,
            literal(&migration.description),
            hex(&migration.checksum),
        ));
        sql.push_str(end);
    }
    let failed = match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    // The failed migration's transaction (or savepoint in the caller's) is aborted: undo it, so that
    // the connection (and the caller's transaction) can be used again, with the migrations before it kept.
    let undo =
        if nested { "ROLLBACK TO SAVEPOINT botctl_migrate; RELEASE SAVEPOINT botctl_migrate" } else { "ROLLBACK" };
    if let Err(e) = sqlx::raw_sql(undo).execute(&mut *conn).await {
        tracing::warn!("cannot roll back a failed migration: {e}");
    }
    // Which migration failed, as sqlx's runner tells it: the first not in the ledger now.
    let ledger_now = async {
        let sql = format!("SELECT version FROM {table}");
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
        rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<Vec<_>, _>>()
    };
    let version = match ledger_now.await {
        Ok(done) => pending.iter().find(|m| !done.contains(&m.version)).map(|m| m.version),
        Err(_) => pending.first().map(|m| m.version),
    };
    Err(match version {
        Some(version) if matches!(failed, sqlx::Error::Database(_)) => {
            MigrateError::ExecuteMigration(failed, version).into()
        }
        _ => failed.into(),
    })
}

/// `s` as an SQL string literal, whatever `standard_conforming_strings` says.
fn literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    // The lock and the search path in one round trip, and so their undoing: simple queries, as the
    // tenant's names are spliced (a validated slug) rather than bound.
    let lock_key = format!("{TENANT_LOCK_CLASS}, hashtext({})", literal(&slug.schema()));
    let lock = format!("SELECT pg_advisory_lock({lock_key}); SET search_path TO {}", slug.quoted_schema());
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock)).execute(&mut *conn).await?;
    let result = migrate_locked(conn, slug, dry_run).await;
    // Unlock and reset even after a failure: the connection may go back to a pool.
    let unlock = format!("RESET search_path; SELECT pg_advisory_unlock({lock_key})");
    let cleaned = sqlx::raw_sql(sqlx::AssertSqlSafe(unlock)).execute(&mut *conn).await;
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
    let migrator = tenant_migrator(slug);
    let ledger = Ledger::read(conn, &migrator).await?;
    let before = ledger.status(&migrator);
    let applied = if dry_run { Vec::new() } else { apply_read(conn, &migrator, &ledger, None).await? };
    Ok(TenantMigration { before, applied })
}
