//! The control plane: schema `botctl`, created and upgraded by `botctl init`, readable only by the operator.

use std::borrow::Cow;

use anyhow::Context;
use serde::Serialize;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use super::migrate::{self, MigrationInfo, MigrationStatus};

pub const SCHEMA: &str = "botctl";

/// The control-plane migrations, with their ledger kept inside the schema they build.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/control");
    migrator.table_name = Cow::Borrowed("botctl._sqlx_migrations");
    migrator.create_schemas = Cow::Borrowed(&[Cow::Borrowed(SCHEMA)]);
    migrator
}

/// What the operator's role may do, as far as botctl cares.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Privileges {
    pub role: String,
    pub database: String,
    pub superuser: bool,
    pub create_role: bool,
    pub create_on_database: bool,
}

impl Privileges {
    /// The statements a superuser must run for this role to do botctl's work; empty when none.
    pub fn missing_grants(&self) -> Vec<String> {
        if self.superuser {
            return Vec::new();
        }
        let role = quote_ident(&self.role);
        let mut grants = Vec::new();
        if !self.create_role {
            grants.push(format!("ALTER ROLE {role} CREATEROLE;"));
        }
        if !self.create_on_database {
            grants.push(format!("GRANT CREATE ON DATABASE {} TO {role};", quote_ident(&self.database)));
        }
        grants
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "role `{role}` lacks privileges botctl needs (CREATEROLE to make tenant roles, CREATE on database `{database}` to make schemas)\n\
     fix: as a superuser, run:\n  {}",
    grants.join("\n  ")
)]
pub struct MissingPrivileges {
    pub role: String,
    pub database: String,
    pub grants: Vec<String>,
}

pub async fn privileges(pool: &PgPool) -> Result<Privileges, sqlx::Error> {
    privileges_on(&mut *pool.acquire().await?).await
}

/// [`privileges`] on one connection.
pub async fn privileges_on(conn: &mut sqlx::PgConnection) -> Result<Privileges, sqlx::Error> {
    sqlx::query_as(
        "SELECT current_user::text AS role, current_database()::text AS database, r.rolsuper AS superuser, \
                r.rolcreaterole AS create_role, has_database_privilege(current_database(), 'CREATE') AS create_on_database \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(conn)
    .await
}

/// Fails with the exact grants to run when the role cannot do botctl's work.
pub fn require(privileges: &Privileges) -> Result<(), MissingPrivileges> {
    let grants = privileges.missing_grants();
    if grants.is_empty() {
        Ok(())
    } else {
        Err(MissingPrivileges { role: privileges.role.clone(), database: privileges.database.clone(), grants })
    }
}

/// The outcome of `botctl init`.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub role: String,
    pub database: String,
    pub applied: Vec<MigrationInfo>,
    pub version: i64,
}

/// Creates or upgrades the control schema. Idempotent: a second run applies nothing.
pub async fn init(pool: &PgPool) -> anyhow::Result<InitReport> {
    let privileges = privileges(pool).await.context("reading the role's privileges")?;
    require(&privileges)?;
    let mut conn = pool.acquire().await?;
    let migrator = migrator();
    let applied = migrate::apply(&mut conn, &migrator).await.context("migrating the control schema")?;
    let version = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    Ok(InitReport { role: privileges.role, database: privileges.database, applied, version })
}

/// Fails unless the control schema matches this binary: commands other than `init` need it current.
pub async fn require_current(pool: &PgPool) -> anyhow::Result<()> {
    let status = status(pool).await.context("reading the control schema's version")?;
    if !status.unknown.is_empty() {
        anyhow::bail!(
            "the control schema (version {}) is newer than this botctl knows ({}); upgrade botctl",
            status.current.unwrap_or(0),
            status.latest
        );
    }
    match status.current {
        None => anyhow::bail!("the control schema does not exist yet; run `botctl init` first"),
        Some(current) if !status.pending.is_empty() => {
            anyhow::bail!(
                "the control schema is at version {current}, this botctl needs {}; run `botctl init`",
                status.latest
            )
        }
        Some(_) => Ok(()),
    }
}

/// This installation's id, which its containers carry as a label.
pub async fn installation(pool: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT id::text FROM botctl.installation").fetch_one(pool).await
}

pub async fn status(pool: &PgPool) -> Result<MigrationStatus, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    migrate::status(&mut conn, &migrator()).await
}

/// Quotes an SQL identifier; used for names read back from the catalog, never for user input in DDL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(superuser: bool, create_role: bool, create_on_database: bool) -> Privileges {
        Privileges { role: "op".into(), database: "botctl".into(), superuser, create_role, create_on_database }
    }

    #[test]
    fn superusers_need_nothing() {
        assert!(role(true, false, false).missing_grants().is_empty());
    }

    #[test]
    fn missing_privileges_become_exact_statements() {
        assert_eq!(
            role(false, false, false).missing_grants(),
            vec!["ALTER ROLE \"op\" CREATEROLE;", "GRANT CREATE ON DATABASE \"botctl\" TO \"op\";"]
        );
        assert_eq!(role(false, true, false).missing_grants(), vec!["GRANT CREATE ON DATABASE \"botctl\" TO \"op\";"]);
    }

    #[test]
    fn identifiers_with_quotes_are_escaped() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
