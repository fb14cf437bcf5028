//! Forward-only SQL migrations with a ledger inside the schema they build (sqlx's migrator).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgConnection;
use sqlx::migrate::Migrator;

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
    migrator.run_direct(None, conn, false).await?;
    Ok(before.pending)
}
