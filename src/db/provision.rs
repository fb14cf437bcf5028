//! The only place that builds DDL for tenants: roles, schemas and grants. It accepts nothing but a
//! validated [`TenantSlug`], whose identifiers are safe to quote and splice (identifiers cannot be bound
//! as parameters).

use rand::RngExt;
use sqlx::{AssertSqlSafe, PgConnection};

use crate::tenant::TenantSlug;

/// Creates the tenant's login role and schema with DML-only access to its own tables. Run inside the
/// transaction that records the tenant, so a failure leaves nothing behind.
///
/// The schema and its tables belong to the operator's role; the tenant's role may read and write rows
/// but not change the schema. Default privileges extend that to tables later migrations add.
pub async fn create_tenant(conn: &mut PgConnection, slug: &TenantSlug) -> Result<(), sqlx::Error> {
    let name = slug.quoted_schema();
    // Nobody needs this first password: it is rotated whenever the tenant's container is created.
    let password = generate_password();
    let mut statements = vec![
        format!("CREATE ROLE {name} LOGIN NOINHERIT PASSWORD '{password}'"),
        // On the role, not per connection, so it also holds behind PgBouncer.
        format!("ALTER ROLE {name} SET search_path = {name}"),
    ];
    statements.extend(schema_statements(&name, &name));
    run(conn, &statements).await
}

/// `statements` in one round trip (one simple query): each names this tenant's role or schema, so as
/// prepared statements they would be parsed for one use only and crowd the connection's statement
/// cache. Outside a transaction they are one (the simple query's own); inside, part of the caller's.
async fn run(conn: &mut PgConnection, statements: &[String]) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(statements.join(";\n"))).execute(conn).await?;
    Ok(())
}

/// Creates schema `schema` (quoted) for tenant role `role` (quoted): closed to everyone else, rows
/// only for the role, in tables later migrations add too (default privileges belong to the schema, so
/// they survive a rename).
async fn create_schema(conn: &mut PgConnection, schema: &str, role: &str) -> Result<(), sqlx::Error> {
    run(conn, &schema_statements(schema, role)).await
}

fn schema_statements(schema: &str, role: &str) -> [String; 5] {
    [
        format!("CREATE SCHEMA {schema}"),
        format!("REVOKE ALL ON SCHEMA {schema} FROM PUBLIC"),
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}"),
    ]
}

/// A schema next to the tenant's: `tenant_<slug>_<suffix>`, where a restore builds, or a deep
/// verification loads, before anything live is touched. Made afresh, with the tenant role's access.
pub async fn create_side_schema(
    conn: &mut PgConnection,
    slug: &TenantSlug,
    suffix: Side,
) -> Result<String, sqlx::Error> {
    let schema = format!("\"{}_{}\"", slug.schema(), suffix.as_str());
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).execute(&mut *conn).await?;
    create_schema(conn, &schema, &slug.quoted_schema()).await?;
    Ok(schema)
}

/// Which side schema.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    Restore,
    Verify,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Restore => "restore",
            Side::Verify => "verify",
        }
    }
}

/// Puts the restored schema in the live one's place. The live one is kept as
/// `tenant_<slug>_prev_<UTC time>` (the one before it is dropped), or dropped with `keep_previous`
/// false. Returns the kept schema's name.
pub async fn swap_in_restored(
    conn: &mut PgConnection,
    slug: &TenantSlug,
    keep_previous: bool,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, sqlx::Error> {
    let live = slug.quoted_schema();
    let prefix = format!("{}_prev_", slug.schema());
    let previous = format!("{prefix}{}", at.format("%Y%m%d%H%M%S"));
    let older: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE left(nspname, length($1)) = $1")
            .bind(&prefix)
            .fetch_all(&mut *conn)
            .await?;
    for name in older {
        let sql = format!("DROP SCHEMA {} CASCADE", super::control::quote_ident(&name));
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    }
    let statements = [
        format!("ALTER SCHEMA {live} RENAME TO \"{previous}\""),
        format!("ALTER SCHEMA \"{}_restore\" RENAME TO {live}", slug.schema()),
    ];
    for statement in statements {
        sqlx::query(AssertSqlSafe(statement)).execute(&mut *conn).await?;
    }
    if keep_previous {
        return Ok(Some(previous));
    }
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{previous}\" CASCADE"))).execute(&mut *conn).await?;
    Ok(None)
}

/// The tenant's schema and those beside it that exist: a restore's staging, a deep verification's
/// scratch and kept `_prev_` schemas. `live` are the schemas of the live tenants on the same server
/// (the control plane knows them; another server has no control plane to ask): a live tenant whose own
/// schema merely looks like one of them (tenant `a_restore` beside tenant `a`) is not counted.
pub async fn tenant_schemas(
    conn: &mut PgConnection,
    slug: &TenantSlug,
    live: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let schema = slug.schema();
    sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE (nspname = $1 OR nspname = $1 || '_restore' \
         OR nspname = $1 || '_verify' OR left(nspname, length($1) + 6) = $1 || '_prev_') \
         AND (nspname = $1 OR nspname <> ALL ($2::text[])) ORDER BY nspname",
    )
    .bind(&schema)
    .bind(live)
    .fetch_all(conn)
    .await
}

/// Drops the tenant's schemas (with everything in them, kept `_prev_` schemas too, whose grants would
/// keep the role alive) and its role; `live` as for [`tenant_schemas`]. Missing pieces are skipped, so
/// a half-deleted tenant can be deleted again.
pub async fn drop_tenant(conn: &mut PgConnection, slug: &TenantSlug, live: &[String]) -> Result<(), sqlx::Error> {
    for schema in tenant_schemas(&mut *conn, slug, live).await? {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", super::control::quote_ident(&schema));
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    }
    let name = slug.quoted_schema();
    sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}"))).execute(&mut *conn).await?;
    Ok(())
}

/// Whether the tenant's role or schema exists on this server.
pub async fn exists(conn: &mut PgConnection, slug: &TenantSlug) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
    )
    .bind(slug.schema())
    .fetch_one(conn)
    .await
}

/// Sets a new password for the tenant's role and returns it.
pub async fn rotate_password(conn: &mut PgConnection, slug: &TenantSlug) -> Result<String, sqlx::Error> {
    let password = generate_password();
    sqlx::query(AssertSqlSafe(format!("ALTER ROLE {} PASSWORD '{password}'", slug.quoted_schema())))
        .execute(&mut *conn)
        .await?;
    Ok(password)
}

/// Points unqualified names at the tenant's schema for the rest of the transaction.
pub async fn enter_schema(conn: &mut PgConnection, slug: &TenantSlug) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(format!("SET LOCAL search_path TO {}", slug.quoted_schema())))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// 32 alphanumeric characters: ~190 bits, and nothing that needs quoting inside an SQL literal.
fn generate_password() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(32).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_fresh() {
        let a = generate_password();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, generate_password());
    }
}
