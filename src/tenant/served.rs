//! Tenants that `botctl demo` serves in its own process rather than in a container. The demo holds a
//! session advisory lock on the tenant for as long as it serves it, so a demo that is killed frees the
//! tenant with its connection and leaves nothing to clean up.

use std::collections::HashMap;
use std::fmt;

use sqlx::{PgConnection, PgPool};

use super::TenantSlug;

/// Advisory-lock class of a tenant served by `botctl demo` (the bytes "botd"), apart from runtime locks.
const DEMO_LOCK_CLASS: i32 = 0x626f_7464;
/// How the demo's session names itself in `pg_stat_activity`, so that others can say which process it is.
const APPLICATION: &str = "botctl demo, pid ";

/// The `botctl demo` process serving a tenant; its pid is unknown if PostgreSQL does not show its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoServer {
    pub pid: Option<u32>,
}

impl fmt::Display for DemoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "botctl demo, pid {pid}"),
            None => f.write_str("botctl demo"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub struct ServedByDemo {
    pub slug: String,
    pub server: DemoServer,
}

impl fmt::Display for ServedByDemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenant `{}` is served by {}: its bot runs inside that process, not in a container. Stop that demo \
             first: Ctrl-C where it runs",
            self.slug, self.server
        )?;
        match self.server.pid {
            Some(pid) => write!(f, ", or `kill -INT {pid}`."),
            None => f.write_str("."),
        }
    }
}

/// Marks `slug` as served by this process for as long as the returned session stays open; fails when
/// another demo serves it already.
pub async fn hold(pool: &PgPool, slug: &TenantSlug) -> anyhow::Result<PgConnection> {
    let mut conn = pool.acquire().await?.detach();
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(format!("{APPLICATION}{}", std::process::id()))
        .execute(&mut conn)
        .await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(DEMO_LOCK_CLASS)
        .bind(slug.schema())
        .fetch_one(&mut conn)
        .await?;
    if locked {
        return Ok(conn);
    }
    let server = by_demo(&mut conn, std::slice::from_ref(slug)).await?.remove(slug.as_str());
    Err(ServedByDemo { slug: slug.to_string(), server: server.unwrap_or(DemoServer { pid: None }) }.into())
}

/// Which of `slugs` a `botctl demo` serves now, and which process that is.
pub async fn by_demo(conn: &mut PgConnection, slugs: &[TenantSlug]) -> sqlx::Result<HashMap<String, DemoServer>> {
    let names: Vec<&str> = slugs.iter().map(TenantSlug::as_str).collect();
    let schemas: Vec<String> = slugs.iter().map(TenantSlug::schema).collect();
    // pg_locks shows the two int4 keys as oids: a negative hash is its unsigned twin there.
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT s.slug, a.application_name FROM unnest($2::text[], $3::text[]) AS s(slug, schema) \
         JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid = $1::oid AND l.objid = (hashtext(s.schema)::bigint & 4294967295)::oid \
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid",
    )
    .bind(DEMO_LOCK_CLASS)
    .bind(&names)
    .bind(&schemas)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(slug, application)| {
            let pid = application.as_deref().and_then(|a| a.strip_prefix(APPLICATION)).and_then(|p| p.parse().ok());
            (slug, DemoServer { pid })
        })
        .collect())
}

/// Fails when a `botctl demo` serves the tenant: a container of its own would be a second bot polling
/// the same token, and the password it is given would lock the demo's bot out.
pub async fn refuse_if_by_demo(conn: &mut PgConnection, slug: &TenantSlug) -> anyhow::Result<()> {
    match by_demo(conn, std::slice::from_ref(slug)).await?.remove(slug.as_str()) {
        Some(server) => Err(ServedByDemo { slug: slug.to_string(), server }.into()),
        None => Ok(()),
    }
}
