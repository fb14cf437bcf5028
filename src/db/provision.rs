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
    let statements = [
        format!("CREATE ROLE {name} LOGIN NOINHERIT PASSWORD '{password}'"),
        // On the role, not per connection, so it also holds behind PgBouncer.
        format!("ALTER ROLE {name} SET search_path = {name}"),
        format!("CREATE SCHEMA {name}"),
        format!("REVOKE ALL ON SCHEMA {name} FROM PUBLIC"),
        format!("GRANT USAGE ON SCHEMA {name} TO {name}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {name} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {name}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {name} GRANT USAGE, SELECT ON SEQUENCES TO {name}"),
    ];
    for statement in statements {
        sqlx::query(AssertSqlSafe(statement)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Drops the tenant's schema (with everything in it) and its role. Missing pieces are skipped, so a
/// half-deleted tenant can be deleted again.
pub async fn drop_tenant(conn: &mut PgConnection, slug: &TenantSlug) -> Result<(), sqlx::Error> {
    let name = slug.quoted_schema();
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE"))).execute(&mut *conn).await?;
    sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}"))).execute(&mut *conn).await?;
    Ok(())
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
    sqlx::query(AssertSqlSafe(format!("SET LOCAL search_path TO {}", slug.quoted_schema())))
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
