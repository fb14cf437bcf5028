//! Control-plane queries: the `botctl.tenants` and `botctl.events` tables. No DDL here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

/// A tenant as the control plane records it. The token is never loaded into this type; only its
/// fingerprint is (computed by PostgreSQL with the same rule as `BotToken::fingerprint`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Tenant {
    pub slug: String,
    pub display_name: String,
    pub bot_id: i64,
    pub bot_username: String,
    pub token_fingerprint: String,
    pub admins: Vec<i64>,
    pub timezone: String,
    pub locale: String,
    pub template: String,
    pub status: String,
    pub schema_version: i64,
    /// The image its bot last ran healthy from; `None` before the first start.
    pub image: Option<String>,
    /// Container limits of its own; `None` takes the configured default.
    pub memory_mb: Option<i32>,
    pub cpus: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The archive `tenant delete` took before it began dropping things.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_backup: Option<String>,
    /// The PostgreSQL server its schema lives on (`main`: the control plane's own).
    pub server: String,
}

const COLUMNS: &str = "slug, display_name, bot_id, bot_username, \
    coalesce(left(encode(sha256(convert_to(token, 'UTF8')), 'hex'), 12), '') AS token_fingerprint, admins, timezone, \
    locale, template, status, schema_version, image, memory_mb, cpus, created_at, updated_at, deleted_at, final_backup, server";

/// The fields of a tenant about to be created.
pub struct NewTenant<'a> {
    pub slug: &'a str,
    pub display_name: &'a str,
    pub bot_id: i64,
    pub bot_username: &'a str,
    pub token: &'a str,
    pub admins: &'a [i64],
    pub timezone: &'a str,
    pub locale: &'a str,
    pub template: &'a str,
    pub memory_mb: Option<i32>,
    pub cpus: Option<f64>,
    /// Where its schema goes (placement chose it).
    pub server: &'a str,
}

pub async fn insert(conn: &mut PgConnection, new: &NewTenant<'_>) -> Result<Tenant, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO botctl.tenants (slug, display_name, bot_id, bot_username, token, admins, timezone, locale, \
         template, memory_mb, cpus, server, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'stopped') \
         RETURNING {COLUMNS}"
    )))
    .bind(new.slug)
    .bind(new.display_name)
    .bind(new.bot_id)
    .bind(new.bot_username)
    .bind(new.token)
    .bind(new.admins)
    .bind(new.timezone)
    .bind(new.locale)
    .bind(new.template)
    .bind(new.memory_mb)
    .bind(new.cpus)
    .bind(new.server)
    .fetch_one(conn)
    .await
}

/// The live (not deleted) tenant with this slug.
pub async fn find(conn: &mut PgConnection, slug: &str) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL"
    )))
    .bind(slug)
    .fetch_optional(conn)
    .await
}

/// The same, locked against concurrent changes until the transaction ends.
pub async fn find_for_update(conn: &mut PgConnection, slug: &str) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL FOR UPDATE"
    )))
    .bind(slug)
    .fetch_optional(conn)
    .await
}

/// The schemas of the live tenants on `server` other than `slug` that look like a schema beside
/// `slug`'s (`tenant_<slug>_…`): see [`crate::db::provision::tenant_schemas`].
pub async fn live_beside(conn: &mut PgConnection, slug: &str, server: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT 'tenant_' || slug FROM botctl.tenants WHERE deleted_at IS NULL AND server = $2 \
         AND left(slug, length($1) + 1) = $1 || '_'",
    )
    .bind(slug)
    .bind(server)
    .fetch_all(conn)
    .await
}

/// Each live tenant's server.
pub async fn servers_of(conn: &mut PgConnection) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT slug, server FROM botctl.tenants WHERE deleted_at IS NULL").fetch_all(conn).await
}

/// The bot token, which only the tenant's container is given.
pub async fn token(conn: &mut PgConnection, slug: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT token FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL")
        .bind(slug)
        .fetch_optional(conn)
        .await
}

/// Records the image the tenant's bot now runs healthy from.
pub async fn set_image(conn: &mut PgConnection, slug: &str, image: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE botctl.tenants SET image = $2, updated_at = now() WHERE slug = $1 AND deleted_at IS NULL")
        .bind(slug)
        .bind(image)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_status(conn: &mut PgConnection, slug: &str, status: &str) -> Result<(), sqlx::Error> {
    // A tenant whose delete began stays `deleting` whatever its container does: only the delete ends it.
    sqlx::query(
        "UPDATE botctl.tenants SET status = $2, updated_at = now() \
         WHERE slug = $1 AND deleted_at IS NULL AND status <> 'deleting'",
    )
    .bind(slug)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(())
}

/// The live tenant whose bot this is, if any.
pub async fn find_by_bot(conn: &mut PgConnection, bot_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT slug FROM botctl.tenants WHERE bot_id = $1 AND deleted_at IS NULL")
        .bind(bot_id)
        .fetch_optional(conn)
        .await
}

/// Tenants by slug; deleted ones only when asked for by status.
pub async fn list(conn: &mut PgConnection, status: Option<&str>) -> Result<Vec<Tenant>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM botctl.tenants \
         WHERE CASE WHEN $1::text IS NULL THEN deleted_at IS NULL ELSE status = $1 END ORDER BY slug, id"
    )))
    .bind(status)
    .fetch_all(conn)
    .await
}

pub async fn count_live(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM botctl.tenants WHERE deleted_at IS NULL").fetch_one(conn).await
}

/// Live tenants whose schema is behind `version`: the only ones `migrate --all` needs to open.
pub async fn behind(conn: &mut PgConnection, version: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT slug FROM botctl.tenants WHERE deleted_at IS NULL AND schema_version < $1 ORDER BY slug")
        .bind(version)
        .fetch_all(conn)
        .await
}

pub async fn set_schema_version(conn: &mut PgConnection, slug: &str, version: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE botctl.tenants SET schema_version = $2 WHERE slug = $1 AND deleted_at IS NULL")
        .bind(slug)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// The changeable fields; `None` leaves a field as it is.
#[derive(Default)]
pub struct Changes<'a> {
    pub display_name: Option<&'a str>,
    pub admins: Option<&'a [i64]>,
    pub timezone: Option<&'a str>,
    pub locale: Option<&'a str>,
    pub bot: Option<(i64, &'a str, &'a str)>,
    /// `Some(None)` returns a limit to the configured default.
    pub memory_mb: Option<Option<i32>>,
    pub cpus: Option<Option<f64>>,
}

pub async fn update(conn: &mut PgConnection, slug: &str, changes: &Changes<'_>) -> Result<Tenant, sqlx::Error> {
    let (bot_id, bot_username, token) = changes.bot.map_or((None, None, None), |(i, u, t)| (Some(i), Some(u), Some(t)));
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE botctl.tenants SET display_name = coalesce($2, display_name), admins = coalesce($3, admins), \
         timezone = coalesce($4, timezone), locale = coalesce($5, locale), bot_id = coalesce($6, bot_id), \
         bot_username = coalesce($7, bot_username), token = coalesce($8, token), \
         memory_mb = CASE WHEN $9 THEN $10 ELSE memory_mb END, cpus = CASE WHEN $11 THEN $12 ELSE cpus END, \
         updated_at = now() WHERE slug = $1 AND deleted_at IS NULL RETURNING {COLUMNS}"
    )))
    .bind(slug)
    .bind(changes.display_name)
    .bind(changes.admins)
    .bind(changes.timezone)
    .bind(changes.locale)
    .bind(bot_id)
    .bind(bot_username)
    .bind(token)
    .bind(changes.memory_mb.is_some())
    .bind(changes.memory_mb.flatten())
    .bind(changes.cpus.is_some())
    .bind(changes.cpus.flatten())
    .fetch_one(conn)
    .await
}

/// Notes that `tenant delete` has taken its final backup (if any) and begins the destructive steps.
pub async fn mark_deleting(conn: &mut PgConnection, slug: &str, final_backup: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE botctl.tenants SET status = 'deleting', final_backup = $2, updated_at = now() \
         WHERE slug = $1 AND deleted_at IS NULL",
    )
    .bind(slug)
    .bind(final_backup)
    .execute(conn)
    .await?;
    Ok(())
}

/// The row stays, for its events and history; the bot token does not.
pub async fn mark_deleted(conn: &mut PgConnection, slug: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE botctl.tenants SET status = 'deleted', token = NULL, deleted_at = now(), updated_at = now() \
         WHERE slug = $1 AND deleted_at IS NULL",
    )
    .bind(slug)
    .execute(conn)
    .await?;
    Ok(())
}

/// One thing an operator did.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub tenant: Option<String>,
    pub action: String,
    pub details: serde_json::Value,
}

/// Records an event; `details` must never hold a secret.
pub async fn record(
    conn: &mut PgConnection,
    actor: &str,
    tenant: Option<&str>,
    action: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO botctl.events (actor, tenant, action, details) VALUES ($1, $2, $3, $4)")
        .bind(actor)
        .bind(tenant)
        .bind(action)
        .bind(details)
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest `limit` events, oldest first; for one tenant or all.
pub async fn events(conn: &mut PgConnection, tenant: Option<&str>, limit: i64) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, actor, tenant, action, details FROM (\
            SELECT id, at, actor, tenant, action, details FROM botctl.events \
            WHERE $1::text IS NULL OR tenant = $1 ORDER BY id DESC LIMIT $2\
         ) newest ORDER BY id",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// An archive `botctl backup` wrote.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BackupRecord {
    pub tenant: String,
    pub path: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub schema_version: i64,
    pub rows: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn record_backup(conn: &mut PgConnection, b: &BackupRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO botctl.backups (tenant, path, size_bytes, sha256, schema_version, rows, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&b.tenant)
    .bind(&b.path)
    .bind(b.size_bytes)
    .bind(&b.sha256)
    .bind(b.schema_version)
    .bind(b.rows)
    .bind(b.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Notes that retention deleted an archive's file.
pub async fn mark_pruned(conn: &mut PgConnection, path: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE botctl.backups SET pruned_at = now() WHERE path = $1 AND pruned_at IS NULL")
        .bind(path)
        .execute(conn)
        .await?;
    Ok(())
}

/// The recorded archive at `path`, unless pruned.
pub async fn backup_at(conn: &mut PgConnection, path: &str) -> Result<Option<BackupRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tenant, path, size_bytes, sha256, schema_version, rows, created_at FROM botctl.backups \
         WHERE path = $1 AND pruned_at IS NULL",
    )
    .bind(path)
    .fetch_optional(conn)
    .await
}
